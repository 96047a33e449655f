#!/usr/bin/env bash
# Debian's chromium for the browser test of the MLflow UI (tests/test_ui_browser.py skips without it) and
# for `python3 -m tools.screenshots`. Idempotent: does nothing when a chromium is already installed.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "chromium not found and cannot apt-get install it; the browser test will skip" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends chromium >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends chromium >&2; }
command -v chromium >/dev/null
