#!/usr/bin/env bash
# Times ./pants on a fresh clone: the bootstrapping first run, then a second `--version`
# (pantsd up: no bootstrap, no network), then one without pantsd.
# Usage: tests/benchmarks/pants_startup.sh  (from the checkout; prints one line per run)
set -euo pipefail
source_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
clone="$(mktemp -d)/apizr"
git clone -q "${source_repo}" "${clone}"
cd "${clone}"

time_of() {
  local start end
  start="$(date +%s.%N)"
  "$@" >/dev/null 2>&1
  end="$(date +%s.%N)"
  echo "$(echo "${end} - ${start}" | bc)"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -m)"
echo "first ./pants --version (bootstrap, pip cache as it is): $(time_of ./pants --version) s"
echo "second ./pants --version (pantsd running): $(time_of ./pants --version) s"
echo "./pants --no-pantsd --version: $(time_of ./pants --no-pantsd --version) s"
pkill -f "pantsd \[${clone}\]" || true
rm -rf "$(dirname "${clone}")"
