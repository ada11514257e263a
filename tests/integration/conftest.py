"""Starts the real `bulwark` binary on an ephemeral port for the integration tests."""
import json
import os
import secrets
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("TEST_BULWARK_BIN", os.path.join(ROOT, ".build", "debug", "bulwark"))

# The store behind every test gateway: "sqlite" (default), or "postgres" when scripts/test.sh runs
# the suite a second time through tests/support/bulwark-on-postgres (one database per data folder).
STORE = os.environ.get("TEST_BULWARK_STORE", "sqlite")
sqlite_only = pytest.mark.skipif(STORE != "sqlite", reason="edits the SQLite file directly; the PostgreSQL store has its own test")


def postgres_database(data):
    """The database tests/support/bulwark-on-postgres gives this data folder."""
    import hashlib
    return "bt_" + hashlib.sha1(os.path.realpath(data).encode()).hexdigest()[:24]


def stored_bytes(data):
    """Everything the store holds for a data folder, as bytes: the SQLite files, or a pg_dump."""
    if STORE == "postgres":
        url = os.environ["TEST_POSTGRES_URL"] + "/" + postgres_database(data)
        return subprocess.run(["pg_dump", "--data-only", url], capture_output=True, check=True, timeout=60).stdout
    blob = b""
    for name in os.listdir(data):
        if name.startswith("bulwark.sqlite"):
            blob += open(os.path.join(data, name), "rb").read()
    return blob


def run_cli(data, *args):
    """Runs an operator command with --json and returns its parsed output."""
    out = subprocess.run([BINARY, *args, "--data", data, "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"{args}: {out.stderr}"
    return json.loads(out.stdout)


def provision_trader(data, prefix, fund, scopes="read,trade", key_options=()):
    """A funded account with one new Ed25519 key, created through the operator CLI.

    Returns (account_id, key_id, key). `key_options` are extra `keys create` flags (e.g. --sealed).
    """
    from bulwark_client import Ed25519Key, b64u

    account_id = run_cli(data, "accounts", "create", "--name", f"{prefix}-{secrets.token_hex(4)}", "--fund", fund)["account_id"]
    key = Ed25519Key()
    key_id = run_cli(data, "keys", "create", "--account", account_id, "--type", "ed25519", "--public-key",
                     b64u(key.public_raw()), "--scopes", scopes, *key_options)["key_id"]
    return account_id, key_id, key


# Every test client connects from 127.0.0.1 (one address for the whole suite), and many tests
# open connections, log in and send bursts back to back; with the production defaults the per-IP,
# per-connection and standard-tier limits would refuse them. These relax them for every test
# gateway; test_rate_limits.py runs its own gateways with small limits and checks each bucket there.
RELAXED_RATE_LIMITS = {
    "BULWARK_RATE_IP_HANDSHAKES": "100000/s",
    "BULWARK_RATE_IP_CONNECTIONS": "100000/s",
    "BULWARK_RATE_IP_MAX_CONNECTIONS": "100000",
    "BULWARK_RATE_IP_LOGINS": "100000/s",
    "BULWARK_RATE_CONNECTION_MESSAGES": "100000/s",
    "BULWARK_RATE_CONNECTION_SUBSCRIBES": "100000/s",
    "BULWARK_RATE_TIER_STANDARD_WEIGHT": "100000/s",
    "BULWARK_RATE_TIER_STANDARD_ORDERS": "100000/s",
    "BULWARK_RATE_TIER_STANDARD_CANCELS": "100000/s",
}


# The demo liquidity simulator would move books and fill the journal under the tests' feet; the
# test gateways run without it unless a test turns it on (test_venue.py does).
QUIET_MARKET = {"BULWARK_DEMO_LIQUIDITY_INTERVAL_MS": "0"}


class Gateway:
    def __init__(self, data, extra_env=None, extra_args=()):
        self.data = data
        ready = os.path.join(data, "..", f"ready-{os.getpid()}-{time.monotonic_ns()}")
        self.ready_file = os.path.abspath(ready)
        env = dict(os.environ)
        env.update(RELAXED_RATE_LIMITS)
        env.update(QUIET_MARKET)
        env.update(extra_env or {})
        self.log_path = os.path.abspath(os.path.join(data, "..", f"server-{time.monotonic_ns()}.log"))
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [BINARY, "serve", "--data", data, "--listen", "127.0.0.1:0", "--ready-file", self.ready_file, *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.ready_file):
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("server did not start within 60 s: " + self.output())
            time.sleep(0.05)
        address = open(self.ready_file).read().split()[0]
        self.url = f"wss://{address}/ws/v1"
        self.ca = os.path.join(data, "tls", "ca.pem")

    def output(self):
        self.log.flush()
        return open(self.log_path).read()

    def stop(self, timeout=20):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        os.path.exists(self.ready_file) and os.remove(self.ready_file)
        return self.process.returncode


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="bulwark-it-") as directory:
        yield directory


@pytest.fixture(scope="session")
def gateway(workdir):
    data = os.path.join(workdir, "data")
    # Per-IP throttling is exercised on its own gateway (test_api_keys.py); here every client shares
    # 127.0.0.1, so the address threshold is raised to keep unrelated tests independent.
    server = Gateway(data, extra_env={"BULWARK_WS_AUTH_DEADLINE_MS": "3000", "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000"})
    yield server
    server.stop()


@pytest.fixture
def cli(gateway):
    return lambda *args: run_cli(gateway.data, *args)
