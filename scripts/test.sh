#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds, runs the Swift unit
# tests, then the integration tests that drive the real `bulwark` binary over wss:// with
# third-party Python clients. Exit status is non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# System packages: SQLite headers for GRDB, venv support for Python, a browser for the console test,
# PostgreSQL (server and client tools) for the scale-out store.
missing=()
dpkg -s libsqlite3-dev >/dev/null 2>&1 || missing+=(libsqlite3-dev)
dpkg -s postgresql >/dev/null 2>&1 || missing+=(postgresql)
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

log "PostgreSQL on loopback (a throwaway cluster for this run)"
pg_dir="$(mktemp -d /tmp/bulwark-pg-XXXXXX)"
pg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
trap 'scripts/postgres-test-server stop "$pg_dir"' EXIT
pg_url="$(scripts/postgres-test-server start "$pg_dir" "$pg_port")"

log "swift unit tests (store contract tests on SQLite and on PostgreSQL)"
BULWARK_TEST_POSTGRES_URL="$pg_url/postgres?sslmode=disable" swift test --skip-build

log "integration tests (real server, real sockets)"
TEST_BULWARK_BIN="$(swift build --show-bin-path)/bulwark" .venv/bin/python -m pytest tests/integration clients/python/tests -q -p no:cacheprovider

log "integration tests again, every gateway on PostgreSQL (plus the two-node cluster tests)"
TEST_BULWARK_REAL_BIN="$(swift build --show-bin-path)/bulwark" TEST_BULWARK_BIN="$PWD/tests/support/bulwark-on-postgres" \
    TEST_BULWARK_STORE=postgres TEST_POSTGRES_URL="$pg_url" \
    .venv/bin/python -m pytest tests/integration clients/python/tests -q -p no:cacheprovider

log "attack suite (tests/attacks: ASVS 5.0 chapters, crash and fault tests)"
TEST_BULWARK_BIN="$(swift build --show-bin-path)/bulwark" .venv/bin/python -m pytest tests/attacks -q -p no:cacheprovider

log "fuzzing (libFuzzer + ASan, ${FUZZ_SECONDS:-20} s per target)"
scripts/fuzz "${FUZZ_SECONDS:-20}"
