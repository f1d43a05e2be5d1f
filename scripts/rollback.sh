#!/usr/bin/env bash
# Roll an environment back to an earlier image: a thin wrapper over `dexops rollback`.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/rollback.sh --env ENV [--to TAG | --steps N] [--no-hold]
                           [--emergency] [--pr] [--yes] [--dry-run]
                           [--skip-registry-check]

Rolls ENV back to the previous distinct image of its history (or --to TAG),
commits `fix: rollback ENV to TAG` on its branch and holds the environment so
automation does not undo it (release with `dexops hold.release --env ENV`).
--emergency also prints, and with --yes runs, `kubectl set image`.
Every argument is passed to `dexops rollback` (`invoke rollback` in a dexops
checkout without dexops installed); see `dexops rollback --help`.

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

# dexops when it is installed (an adopting repository: no tasks.py needed), else the
# invoke tasks of the dexops checkout this script sits in, run in the current directory.
if command -v dexops >/dev/null 2>&1; then
  exec dexops rollback "$@"
elif python3 -c 'import dexops' >/dev/null 2>&1; then
  exec python3 -m dexops rollback "$@"
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec uv run --quiet --project "$root" invoke --search-root "$root" rollback "$@"
