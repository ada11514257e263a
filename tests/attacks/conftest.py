"""The attack suite's gateways. Each attack runs against a real `bulwark` process over real sockets;
after every test the autouse fixture `still_serving_afterwards` checks that every gateway the test
used still serves a well-behaved client (connect, hello, public call, login, place and cancel an
order), so no case can pass by breaking the server."""
import importlib.util
import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.abspath(os.path.join(HERE, "..", "integration"))
sys.path.insert(0, INTEGRATION)

# The integration harness (Gateway, run_cli, BINARY) is reused, loaded under its own name; this
# module re-exports it so helpers imported from tests/integration (`from conftest import …`) resolve.
_spec = importlib.util.spec_from_file_location("bulwark_integration_harness", os.path.join(INTEGRATION, "conftest.py"))
_harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_harness)
BINARY = _harness.BINARY
Gateway = _harness.Gateway
run_cli = _harness.run_cli
RELAXED_RATE_LIMITS = _harness.RELAXED_RATE_LIMITS

from attack import ALLOWED_ORIGIN, assert_still_serving  # noqa: E402

GATEWAY_FIXTURES = ("target", "flood_target", "short_sessions")


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="bulwark-attacks-") as directory:
        yield directory


@pytest.fixture(scope="session")
def target(workdir):
    """The main target: production defaults except the relaxed per-IP/per-connection limits every
    test gateway has (the whole suite connects from 127.0.0.1), one allowed browser Origin, step-up
    for orders from 1,000 USD, and a failed-login threshold per address high enough that the
    hundreds of refused logins below do not throttle the canary."""
    server = Gateway(os.path.join(workdir, "target"), extra_env={
        "BULWARK_WS_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        "BULWARK_MFA_STEP_UP_ORDER_NOTIONAL": "1000",
        "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "100000",
    })
    yield server
    server.stop()


@pytest.fixture(scope="session")
def flood_target(workdir):
    """Production-like message limits (10 requests per connection per second) for the flood cases;
    each flood test connects from its own loopback address (bans are per address)."""
    server = Gateway(os.path.join(workdir, "flood"), extra_env={
        "BULWARK_RATE_CONNECTION_MESSAGES": "10/s",
        "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "100000",
    })
    yield server
    server.stop()


@pytest.fixture(scope="session")
def short_sessions(workdir):
    """Sessions that expire 11 s after their last request (the shortest the warning lead allows)."""
    server = Gateway(os.path.join(workdir, "short"), extra_env={
        "BULWARK_SESSION_IDLE_TIMEOUT_MS": "11000", "BULWARK_SESSION_WARNING_LEAD_MS": "10000",
    })
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def still_serving_afterwards(request):
    yield
    for name in GATEWAY_FIXTURES:
        if name in request.fixturenames:
            assert_still_serving(request.getfixturevalue(name))
