#!/usr/bin/env bash
# The browser tests drive Debian's chromium through Playwright (never `playwright install`).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  echo "reptopo: installing Debian's chromium for the browser tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq chromium >&2
fi
