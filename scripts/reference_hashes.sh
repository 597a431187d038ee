#!/usr/bin/env bash
# Hashes of what the reference results give: analyse a copy of site/reference, build the site, cite
# one model, and print one sha256 per table, per site file and per output. Run it before and after a
# change that should not change behaviour, and compare (e.g. `diff before.txt after.txt`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
env=$(bash "$root/scripts/env.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/site/reference" "$work/store"
cd "$work"
"$env/bin/reptopo" analyze --store store > analyze.txt
"$env/bin/reptopo" site build --store store --out site > /dev/null
"$env/bin/reptopo" cite lenet --task digits --store store > cite.txt
(cd store/tables && sha256sum ./*) | sed 's|  ./|  tables/|'
(cd site && find . -type f | sort | xargs sha256sum) | sed 's|  ./|  site/|'
sha256sum analyze.txt cite.txt
