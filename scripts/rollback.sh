#!/usr/bin/env bash
# Roll an environment back to an earlier image: a thin wrapper over `invoke rollback`.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/rollback.sh --env ENV [--to TAG | --steps N] [--no-hold]
                           [--emergency] [--pr] [--yes] [--dry-run]
                           [--skip-registry-check]

Rolls ENV back to the previous distinct image of its history (or --to TAG),
commits `fix: rollback ENV to TAG` on its branch and holds the environment so
automation does not undo it (release with `uv run invoke hold.release --env ENV`).
--emergency also prints, and with --yes runs, `kubectl set image`.
Every argument is passed to `invoke rollback`; see `invoke rollback --help`.

Example:
  scripts/rollback.sh --env prod --yes
USAGE
}

for arg in "$@"; do
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
    usage
    exit 0
  fi
done

exec uv run invoke rollback "$@"
