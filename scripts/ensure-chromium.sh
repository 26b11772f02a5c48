#!/usr/bin/env bash
# Makes sure Debian's chromium exists: test/dashboard.test.ts drives Bull Board in it (playwright-core, no bundled browser).
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing it with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "chromium is required for the dashboard test: sudo apt-get install -y chromium" >&2
exit 1
