"""Transport security against the real server, with Python's ssl module as the client."""
import asyncio
import hashlib
import os
import signal
import socket
import ssl
import time

import pytest

from bulwark_client import Client
from conftest import Gateway, run_cli


def host_port(gateway):
    host, port = gateway.url[len("wss://"):].split("/")[0].rsplit(":", 1)
    return host, int(port)


def handshake(gateway, context):
    """Returns (version, cipher, leaf DER) or raises ssl.SSLError."""
    with socket.create_connection(host_port(gateway), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version(), tls.cipher()[0], tls.getpeercert(binary_form=True)


def legacy_context(ca, version):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = version
    context.maximum_version = version
    return context


@pytest.fixture(scope="module")
def tls12_gateway(workdir):
    server = Gateway(os.path.join(workdir, "tls12"), extra_env={"BULWARK_TLS_MIN_VERSION": "1.2"})
    yield server
    server.stop()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_1_0_and_1_1_are_always_refused(gateway, tls12_gateway, version):
    for server in (gateway, tls12_gateway):
        with pytest.raises(ssl.SSLError) as refused:
            handshake(server, legacy_context(server.ca, version))
        # The server refused it with a protocol_version alert: the client did offer the version.
        assert "PROTOCOL_VERSION" in str(refused.value).upper(), refused.value


@pytest.mark.parametrize("cipher, accepted", [
    ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", True),
    ("ECDHE-ECDSA-CHACHA20-POLY1305", True),
    ("ECDHE-ECDSA-AES128-SHA", False),      # CBC with SHA-1
    ("ECDHE-ECDSA-AES256-SHA384", False),   # CBC
    ("ECDHE-ECDSA-AES128-SHA256", False),   # CBC
])
def test_with_tls_1_2_enabled_only_ecdhe_aead_suites(tls12_gateway, cipher, accepted):
    context = legacy_context(tls12_gateway.ca, ssl.TLSVersion.TLSv1_2)
    context.set_ciphers(cipher + ":@SECLEVEL=0")
    if accepted:
        version, negotiated, _ = handshake(tls12_gateway, context)
        assert version == "TLSv1.2" and negotiated == cipher
    else:
        with pytest.raises(ssl.SSLError):
            handshake(tls12_gateway, context)


def test_tls_1_3_still_preferred_when_1_2_is_allowed(tls12_gateway):
    version, _, _ = handshake(tls12_gateway, ssl.create_default_context(cafile=tls12_gateway.ca))
    assert version == "TLSv1.3"


def test_certificate_hot_reload_under_live_connections(workdir):
    root = os.path.join(workdir, "reload")
    sources = []
    for name in ("one", "two", "three"):
        data = os.path.join(root, name)
        run_cli(data, "init", "--no-demo")
        sources.append(data)
    live = os.path.join(root, "live")
    os.makedirs(live, exist_ok=True)
    cert, key = os.path.join(live, "server.pem"), os.path.join(live, "server-key.pem")
    bundle = os.path.join(root, "cas.pem")
    with open(bundle, "w") as out:
        for data in sources:
            out.write(open(os.path.join(data, "tls", "ca.pem")).read())

    def install(data):
        # Rename into place, as a deployment tool would: never a half-written file.
        for name, target in (("server.pem", cert), ("server-key.pem", key)):
            tmp = target + ".tmp"
            with open(tmp, "w") as out:
                out.write(open(os.path.join(data, "tls", name)).read())
            os.replace(tmp, target)

    def leaf_of(data):
        pem = open(os.path.join(data, "tls", "server.pem")).read()
        return ssl.PEM_cert_to_DER_cert(pem.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")

    install(sources[0])
    server = Gateway(os.path.join(root, "gateway"), extra_env={"BULWARK_TLS_CERT_FILE": cert, "BULWARK_TLS_KEY_FILE": key})
    server.ca = bundle
    context = ssl.create_default_context(cafile=bundle)

    def served_leaf():
        return handshake(server, context)[2]

    def wait_for(expected, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if served_leaf() == expected:
                return True
            time.sleep(0.2)
        return False

    async def scenario():
        assert served_leaf() == leaf_of(sources[0])
        old = await Client.connect(server.url, bundle)
        # 1. Files change: new connections get the new certificate, the old connection keeps working.
        install(sources[1])
        assert await asyncio.to_thread(wait_for, leaf_of(sources[1]))
        assert "result" in await old.call("public/ping")
        # 2. A broken file: the current certificate stays, an alert is logged.
        with open(cert, "w") as out:
            out.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        await asyncio.sleep(3)
        assert served_leaf() == leaf_of(sources[1])
        assert "ALERT: TLS certificate reload rejected" in server.output()
        # 3. SIGHUP reloads at once.
        install(sources[2])
        server.process.send_signal(signal.SIGHUP)
        assert await asyncio.to_thread(wait_for, leaf_of(sources[2]))
        assert "result" in await old.call("public/ping")
        await old.close()
    try:
        asyncio.run(scenario())
        assert server.process.poll() is None
        assert "TLS certificate reloaded" in server.output()
    finally:
        assert server.stop() == 0


def test_sslyze_reports_mozilla_modern_compliance(gateway):
    """An independent TLS scanner (sslyze, with its own OpenSSL) checks the listener."""
    import subprocess
    import sys
    host, port = host_port(gateway)
    out = subprocess.run([sys.executable, "-m", "sslyze", "--mozilla_config=modern", "--certinfo_ca_file", gateway.ca,
                          f"localhost:{port}{{{host}}}"], capture_output=True, text=True, timeout=180)
    assert "OK - Compliant" in out.stdout, out.stdout[-3000:]
    assert out.returncode == 0
    # Nothing older than TLS 1.3 is accepted.
    for legacy in ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2"):
        section = out.stdout.split(f"* {legacy} Cipher Suites:")[1].split("*")[0]
        assert "rejected all cipher suites" in section, (legacy, section)
