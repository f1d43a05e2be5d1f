#!/usr/bin/env bash
# Promote an image between environments: a thin wrapper over `invoke promote`.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/promote.sh --to-env ENV [--from-env ENV] [--image-tag TAG]
                          [--auto-merge] [--direct] [--force] [--yes] [--dry-run]
                          [--skip-registry-check]

Promotes the image the source environment runs to the target environment by
opening a pull request (or, with --direct, pushing to the target's branch).
Every argument is passed to `invoke promote`; see `scripts/promote.sh --help` or `invoke promote --help`.

Example:
  scripts/promote.sh --from-env stage --to-env prod --image-tag sha-a1b2c3d4
USAGE
}

for arg in "$@"; do
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
    usage
    exit 0
  fi
done

exec uv run invoke promote "$@"
