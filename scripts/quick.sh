#!/usr/bin/env bash
# Set up (or reuse) the environment, run the quick suite on real offline data, analyse it and
# build the leaderboard site into site/build. Rerunning resumes: finished jobs are skipped.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
env=$(bash "$root/scripts/env.sh")
cd "$root"
"$env/bin/reptopo" run --suite quick --store "${REPTOPO_STORE:-results/quick}" --keep-going "$@"
"$env/bin/reptopo" analyze --store "${REPTOPO_STORE:-results/quick}"
"$env/bin/reptopo" site build --store "${REPTOPO_STORE:-results/quick}" --out site/build
echo "reptopo: leaderboard built in $root/site/build (open site/build/index.html)"
