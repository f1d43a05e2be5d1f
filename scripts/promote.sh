#!/usr/bin/env bash
# Promote an image between environments: a thin wrapper over `dexops promote`.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/promote.sh [--to-env ENV] [--from-env ENV] [--image-tag TAG]
                          [--auto-merge] [--direct] [--force] [--yes] [--dry-run]
                          [--skip-registry-check]

Promotes the image the source environment runs to the target environment by
opening a pull request (or, with --direct, pushing to the target's branch).
With --image-tag alone, TAG moves one step along the promote-from chain.
Every argument is passed to `dexops promote` (`invoke promote` in a dexops
checkout without dexops installed); see `dexops promote --help`.

Examples:
  scripts/promote.sh --from-env stage --to-env prod --image-tag sha-a1b2c3d4
  scripts/promote.sh --image-tag sha-a1b2c3d4
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
  exec dexops promote "$@"
elif python3 -c 'import dexops' >/dev/null 2>&1; then
  exec python3 -m dexops promote "$@"
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec uv run --quiet --project "$root" invoke --search-root "$root" promote "$@"
