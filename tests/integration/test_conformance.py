"""The Autobahn|Testsuite catalogue (sections 1-7, 9, 10) against the conformance echo: one test per
case id (autobahn_cases.py). `scripts/conformance-report` turns a run into docs/conformance.md."""
import os

import pytest

from autobahn_cases import CASES
from conftest import Gateway
from wire import Wire


@pytest.fixture(scope="module")
def echo_gateway(workdir):
    # Plain TCP on loopback (allowed there only) keeps the Python side fast; the frame pipeline is
    # the one /ws/v1 uses, TLS sits below it.
    server = Gateway(os.path.join(workdir, "conformance"),
                     extra_env={"BULWARK_WS_CONFORMANCE_ECHO": "true", "BULWARK_TLS_ENABLED": "false",
                                "BULWARK_DEMO_ENABLED": "false"})
    host, port = open(server.ready_file).read().split()[0].rsplit(":", 1)
    server.echo_address = (host, int(port))
    yield server
    server.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_autobahn_case(echo_gateway, case):
    wire = Wire(*echo_gateway.echo_address, timeout=30)
    try:
        assert wire.status == 101
        case.run(wire)
    finally:
        wire.close()


def test_echo_endpoint_is_off_by_default(gateway):
    from raw_websocket import RawConnection
    connection = RawConnection(gateway.url, gateway.ca, path="/ws/echo")
    assert connection.status == 404
    connection.close()
