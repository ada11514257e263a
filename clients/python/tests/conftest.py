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
BINARY, Gateway, run_cli, provision_trader = integration.BINARY, integration.Gateway, integration.run_cli, integration.provision_trader
# When both suites run in one pytest process, `from conftest import …` in the integration tests may
# resolve to this module: offer every helper of theirs too (this file's own fixtures stay its own).
for _name in dir(integration):
    if not _name.startswith("_") and _name not in globals() and not hasattr(getattr(integration, _name), "_pytestfixturefunction"):
        globals()[_name] = getattr(integration, _name)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("sdk"))


@pytest.fixture(scope="session")
def gateway(workdir):
    server = Gateway(os.path.join(workdir, "gateway"), extra_env={"BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000"})
    yield server
    server.stop()
