#!/usr/bin/env bash
# Set up (or reuse) the environment, then run the whole test suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
env=$(bash "$root/scripts/env.sh")
bash "$root/scripts/browser.sh"
bash "$root/scripts/slurm.sh"
cd "$root"
"$env/bin/reptopo" validate registry
exec "$env/bin/python" -m pytest "$@"
