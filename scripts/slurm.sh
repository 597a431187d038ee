#!/usr/bin/env bash
# The scale-out tests start a one-node Slurm cluster of their own (tests/clusters.py) from Debian's
# slurm-wlm and munge; install them when they are missing, as browser.sh installs chromium.
set -euo pipefail
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  echo "reptopo: installing Debian's slurm-wlm and munge for the scale-out tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  # a machine without the package archive still runs every other test: the Slurm ones say they skipped
  (apt-get update -qq && apt-get install -y -qq slurm-wlm munge) >&2 \
    || echo "reptopo: could not install slurm-wlm and munge; the Slurm tests will be skipped" >&2
fi
