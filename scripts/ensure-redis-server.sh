#!/usr/bin/env bash
# Makes sure a redis-server binary exists (the tests start their own servers with it; npm start
# starts one when nothing answers on 127.0.0.1:6379). Installs it with apt-get when root.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found: installing it with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  exit 0
fi
echo "redis-server is not installed: sudo apt-get install -y redis-server (or set REDIS_URL)" >&2
exit 1
