"""The SDK's tests run against the real gateway binary, started by the integration tests' helper."""
import os
import sys

import pytest

INTEGRATION = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "integration"))
sys.path.insert(0, INTEGRATION)

# The integration tests' helpers (their module is also named conftest, so load it under another name).
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("bulwark_integration_conftest", os.path.join(INTEGRATION, "conftest.py"))
integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration)
sys.modules["bulwark_integration_conftest"] = integration
# The helpers (not the fixtures: this file has its own). When both suites run in one pytest
# process, `from conftest import …` in the integration tests may resolve to this module, so it
# offers every helper they import.
HELPERS = ["ROOT", "BINARY", "STORE", "RELAXED_RATE_LIMITS", "QUIET_MARKET", "Gateway", "run_cli", "provision_trader",
           "sqlite_only", "postgres_database", "stored_bytes"]
globals().update({name: getattr(integration, name) for name in HELPERS})


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("sdk"))


@pytest.fixture(scope="session")
def gateway(workdir):
    server = Gateway(os.path.join(workdir, "gateway"), extra_env={"BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000"})
    yield server
    server.stop()
