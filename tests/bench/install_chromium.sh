#!/usr/bin/env bash
# Install Debian's `chromium` for the report's real-browser test (tests/bench/test_report.py).
# Exits 0 when chromium is there afterwards; 3 with the reason on stderr where it cannot be installed.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "not root: cannot apt-get install chromium (install it, or run as root)" >&2; exit 3; fi
if ! command -v apt-get >/dev/null 2>&1; then echo "no apt-get here: install a chromium build by hand" >&2; exit 3; fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
  # The package lists may be missing or stale: refresh them once and try again.
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } >/dev/null 2>&1; then
    echo "apt-get could not install chromium (no Debian package source reachable?)" >&2; exit 3
  fi
fi
command -v chromium >/dev/null 2>&1 || { echo "apt-get ran but no chromium command appeared" >&2; exit 3; }
