#!/usr/bin/env bash
# Makes sure a redis-server binary exists: the tests start their own servers with it.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found: installing it with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  # Debian's package starts a service on 6379; the tests do not need it.
  exit 0
fi
echo "redis-server is required for the tests: sudo apt-get install -y redis-server" >&2
exit 1
