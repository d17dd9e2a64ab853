#!/usr/bin/env bash
# Install vodstack and everything it needs on Debian/Ubuntu into ./.venv.
#   scripts/install.sh          what `vodstack serve` needs (ffmpeg, Python, the package, hls.js)
#   scripts/install.sh --test   also what the test suite needs (Redis, Chromium, test packages)
#   scripts/install.sh --bench  the same as --test (the benchmarks need nginx and wrk too)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
case "${1:-}" in
  --test) with_tests=1 ;;
  --bench) with_tests=1 ;;
  "") ;;
  *) echo "usage: scripts/install.sh [--test|--bench]" >&2; exit 2 ;;
esac

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

wanted=(ffmpeg python3 python3-venv ca-certificates)
if [ "$with_tests" = 1 ]; then
  # nginx and wrk: the benchmark harness is tested too.
  wanted+=(redis-server chromium wrk)
  command -v nginx >/dev/null 2>&1 || wanted+=(nginx)
fi
command -v npm >/dev/null 2>&1 || wanted+=(nodejs npm)

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ "$with_tests" = 1 ]; then
  .venv/bin/pip install -q -e ".[test]"
else
  .venv/bin/pip install -q -e .
fi
# hls.js for the watch page, pinned by package-lock.json and served by vodstack itself.
npm ci --omit=dev --no-audit --no-fund --loglevel=error
echo "vodstack installed in $(pwd)/.venv"
