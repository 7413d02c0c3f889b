#!/usr/bin/env bash
# Install what the browser tests (tests/test_browser.py) need: Debian's chromium and chromium-driver.
# Playwright (a pip test dependency) drives /usr/bin/chromium directly and never downloads a browser.
# Does nothing when /usr/bin/chromium is already there. Needs root (or sudo) for apt-get.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        SUDO="sudo"
    else
        echo "FAIL: installing chromium needs root (apt-get); run this script as root." >&2
        exit 1
    fi
fi

echo "== installing chromium and chromium-driver (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y chromium chromium-driver
/usr/bin/chromium --version
