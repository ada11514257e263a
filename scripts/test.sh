#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds, runs the Swift unit
# tests, then the integration tests that drive the real `bulwark` binary over wss:// with
# third-party Python clients. Exit status is non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# System packages: SQLite headers for GRDB, venv support for Python, a browser for the console test.
missing=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || missing+=(libsqlite3-dev)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# Headless Chromium and NSS tools for the admin console's browser test.
for package in chromium chromium-driver libnss3-tools; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

log "python test environment (.venv)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt
# The Python SDK, installed as a user would (editable, so the tests exercise this checkout).
.venv/bin/python -m pip install -q --disable-pip-version-check -e clients/python

log "swift build (debug, with tests)"
swift build --build-tests

log "swift unit tests"
swift test --skip-build

log "integration tests (real server, real sockets)"
TEST_BULWARK_BIN="$(swift build --show-bin-path)/bulwark" .venv/bin/python -m pytest tests/integration clients/python/tests -q -p no:cacheprovider

log "attack suite (tests/attacks: ASVS 5.0 chapters, crash and fault tests)"
TEST_BULWARK_BIN="$(swift build --show-bin-path)/bulwark" .venv/bin/python -m pytest tests/attacks -q -p no:cacheprovider

log "fuzzing (libFuzzer + ASan, ${FUZZ_SECONDS:-20} s per target)"
scripts/fuzz "${FUZZ_SECONDS:-20}"
