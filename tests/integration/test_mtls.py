"""Client certificates (mTLS) with a CA, certificates and a CRL made by Python `cryptography`."""
import asyncio
import datetime
import hashlib
import json
import os
import socket
import ssl
import time

import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bulwark_client import Client, Ed25519Key, b64u
from conftest import Gateway, run_cli

NOW = datetime.datetime.now(datetime.timezone.utc)


def name(common):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(common):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name(common)).issuer_name(name(common)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_client(ca_key, ca_cert, common, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,), not_after_days=30, not_before_days=1):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(name(common)).issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=not_before_days))
               .not_valid_after(NOW + datetime.timedelta(days=not_after_days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def write_pair(directory, label, key, cert):
    cert_path, key_path = os.path.join(directory, label + ".pem"), os.path.join(directory, label + "-key.pem")
    open(cert_path, "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    open(key_path, "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return cert_path, key_path


def fingerprint(cert):
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@pytest.fixture(scope="module")
def pki(workdir):
    directory = os.path.join(workdir, "mtls-pki")
    os.makedirs(directory, exist_ok=True)
    ca_key, ca = make_ca("Bulwark test client CA")
    other_key, other_ca = make_ca("Some other CA")
    certs = {
        "good": make_client(ca_key, ca, "good-bot"),
        "second": make_client(ca_key, ca, "second-bot"),
        "expired": make_client(ca_key, ca, "old-bot", not_after_days=-1, not_before_days=30),
        "server_only": make_client(ca_key, ca, "web", eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
        "revoked": make_client(ca_key, ca, "stolen-bot"),
        "foreign": make_client(other_key, other_ca, "foreign-bot"),
    }
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject).last_update(NOW - datetime.timedelta(hours=1))
           .next_update(NOW + datetime.timedelta(days=7))
           .add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(certs["revoked"][1].serial_number)
                                    .revocation_date(NOW - datetime.timedelta(hours=1)).build())
           .sign(ca_key, hashes.SHA256()))
    crl_path = os.path.join(directory, "clients.crl")
    open(crl_path, "wb").write(crl.public_bytes(serialization.Encoding.DER))
    ca_path = os.path.join(directory, "client-ca.pem")
    open(ca_path, "wb").write(ca.public_bytes(serialization.Encoding.PEM))
    files = {label: write_pair(directory, label, key, cert) for label, (key, cert) in certs.items()}
    return {"ca": ca_path, "crl": crl_path, "files": files, "certs": {k: v[1] for k, v in certs.items()}}


def mtls_gateway(workdir, pki, mode, name):
    return Gateway(os.path.join(workdir, name), extra_env={
        "BULWARK_TLS_CLIENT_AUTH": mode, "BULWARK_TLS_CLIENT_CA_FILE": pki["ca"], "BULWARK_TLS_CRL_FILES": pki["crl"]})


@pytest.fixture(scope="module")
def optional_gateway(workdir, pki):
    server = mtls_gateway(workdir, pki, "optional", "mtls-optional")
    yield server
    server.stop()


def tls_context(server, pki, label=None):
    context = ssl.create_default_context(cafile=server.ca)
    if label:
        context.load_cert_chain(*pki["files"][label])
    return context


def upgrade_works(server, context):
    """True when the WebSocket upgrade succeeds and hello arrives over this TLS context."""
    async def attempt():
        try:
            async with websockets.connect(server.url, ssl=context, open_timeout=5) as ws:
                return '"hello"' in await asyncio.wait_for(ws.recv(), 5)
        except (ssl.SSLError, websockets.exceptions.WebSocketException, ConnectionError, OSError, asyncio.TimeoutError):
            return False
    return asyncio.run(attempt())


@pytest.mark.parametrize("label, refusal", [
    (None, None),             # optional mode: no certificate is fine
    ("good", None),
    ("expired", "old-bot"),   # RFC5280Policy names the expired certificate
    ("foreign", "no chain to a configured CA"),
    ("server_only", "lacks the clientAuth extended key usage"),
    ("revoked", "is revoked by its issuer's CRL"),
])
def test_optional_mode_validates_presented_certificates(optional_gateway, pki, label, refusal):
    assert upgrade_works(optional_gateway, tls_context(optional_gateway, pki, label)) is (refusal is None)
    if refusal:
        refused = [line for line in optional_gateway.output().splitlines() if "client certificate refused" in line]
        assert any(refusal in line for line in refused), refused


def test_required_mode_refuses_connections_without_a_certificate(workdir, pki):
    server = mtls_gateway(workdir, pki, "required", "mtls-required")
    try:
        assert not upgrade_works(server, tls_context(server, pki))
        assert upgrade_works(server, tls_context(server, pki, "good"))
        assert not upgrade_works(server, tls_context(server, pki, "revoked"))
    finally:
        assert server.stop() == 0


def test_api_key_pinned_to_a_client_certificate(optional_gateway, pki):
    data = optional_gateway.data
    account = run_cli(data, "accounts", "create", "--name", "pinned-" + os.urandom(3).hex())["account_id"]
    key = Ed25519Key()
    good_cert_file = pki["files"]["good"][0]
    key_id = run_cli(data, "keys", "create", "--account", account, "--type", "ed25519", "--public-key",
                     b64u(key.public_raw()), "--scopes", "read", "--client-cert", good_cert_file)["key_id"]
    shown = run_cli(data, "keys", "show", key_id)
    assert shown["client_cert_sha256"] == fingerprint(pki["certs"]["good"])

    async def login(label):
        tls = tls_context(optional_gateway, pki, label)
        ws = await websockets.connect(optional_gateway.url, ssl=tls, subprotocols=["bulwark.v1"], open_timeout=5)
        client = Client(ws)
        client.hello = json.loads(await ws.recv())
        client.challenge = client.hello["params"]["challenge"]
        reply = await client.call("public/auth", client.auth_params(key_id, key))
        await ws.close()
        return reply

    assert "result" in asyncio.run(login("good"))
    assert asyncio.run(login(None))["error"]["message"] == "auth_failed"      # no certificate
    assert asyncio.run(login("second"))["error"]["message"] == "auth_failed"  # a valid but different certificate


def test_a_crl_not_signed_by_a_client_ca_stops_the_start(workdir, pki):
    other_key, other_ca = make_ca("Impostor CA")
    forged = (x509.CertificateRevocationListBuilder().issuer_name(other_ca.subject).last_update(NOW)
              .next_update(NOW + datetime.timedelta(days=1)).sign(other_key, hashes.SHA256()))
    path = os.path.join(workdir, "forged.crl")
    open(path, "wb").write(forged.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(RuntimeError) as failed:
        Gateway(os.path.join(workdir, "mtls-forged"), extra_env={
            "BULWARK_TLS_CLIENT_AUTH": "optional", "BULWARK_TLS_CLIENT_CA_FILE": pki["ca"], "BULWARK_TLS_CRL_FILES": path})
    assert "not signed by a configured client CA" in str(failed.value)


@pytest.fixture(scope="module")
def admin_gateway(workdir, pki):
    # Operator certificates come from their own CA: the public listener's client CA is a different one.
    directory = os.path.join(workdir, "admin-pki")
    os.makedirs(directory, exist_ok=True)
    admin_ca_key, admin_ca = make_ca("Bulwark operators CA")
    operator = write_pair(directory, "operator", *make_client(admin_ca_key, admin_ca, "alice-operator"))
    ca_path = os.path.join(directory, "admin-ca.pem")
    open(ca_path, "wb").write(admin_ca.public_bytes(serialization.Encoding.PEM))
    server = Gateway(os.path.join(workdir, "admin"), extra_env={"BULWARK_ADMIN_CLIENT_CA_FILE": ca_path},
                     extra_args=("--admin-listen", "127.0.0.1:0"))
    server.admin_url = open(server.ready_file).read().split()[1]
    server.operator = operator
    server.admin_ca = (admin_ca_key, admin_ca, directory)
    # The admin API's other two factors: the token, and the operators' TOTP for destructive actions.
    server.admin_token = run_cli(server.data, "admin", "token")["token"]
    import pyotp
    server.operator_totp = pyotp.TOTP(run_cli(server.data, "admin", "totp-enroll")["secret"])
    yield server
    server.stop()


def admin_headers(server, totp=True):
    headers = {"Authorization": "Bearer " + server.admin_token}
    if totp:
        headers["X-Bulwark-TOTP"] = server.operator_totp.now()
    return headers


def admin_request(server, method, path, cert=None, headers=None):
    """Returns the HTTP status, or None when the TLS handshake or the connection is refused."""
    import http.client
    context = ssl.create_default_context(cafile=server.ca)
    if cert:
        context.load_cert_chain(*cert)
    host_port = server.admin_url.split("//")[1].split("/")[0]
    host, port = host_port.rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
    try:
        connection.request(method, path, headers=admin_headers(server) if headers is None else headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    except (ssl.SSLError, ConnectionError, OSError):
        return None, None
    finally:
        connection.close()


def test_admin_listener_requires_an_operator_certificate(admin_gateway, pki):
    assert admin_request(admin_gateway, "GET", "/admin/v1/healthz") == (None, None)                       # no certificate
    assert admin_request(admin_gateway, "GET", "/admin/v1/healthz", pki["files"]["good"]) == (None, None)  # a trader's, other CA
    status, body = admin_request(admin_gateway, "GET", "/admin/v1/healthz", admin_gateway.operator)
    assert status == 200 and body == {"status": "ok"}
    # The admin API is never on the public listener.
    public = admin_gateway.url.replace("wss://", "https://").replace("/ws/v1", "")
    import urllib.request
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(public + "/admin/v1/sessions", context=ssl.create_default_context(cafile=admin_gateway.ca))
    assert missing.value.code == 404


def test_admin_lists_sessions_and_revokes_a_key(admin_gateway):
    data = admin_gateway.data
    account = run_cli(data, "accounts", "create", "--name", "admin-target-" + os.urandom(3).hex())["account_id"]
    key = Ed25519Key()
    key_id = run_cli(data, "keys", "create", "--account", account, "--type", "ed25519", "--public-key",
                     b64u(key.public_raw()), "--scopes", "read")["key_id"]

    async def scenario():
        client = await Client.connect(admin_gateway.url, admin_gateway.ca)
        session = await client.login(key_id, key)
        status, body = await asyncio.to_thread(admin_request, admin_gateway, "GET", "/admin/v1/sessions", admin_gateway.operator)
        assert status == 200 and session["session_id"] in [s["session_id"] for s in body["sessions"]]
        status, body = await asyncio.to_thread(admin_request, admin_gateway, "POST", f"/admin/v1/keys/{key_id}/revoke",
                                               admin_gateway.operator)
        assert status == 200 and body == {"revoked": True, "sessions_ended": 1}
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=5)
        assert notice["params"]["reason"] == "key_revoked"
        status, _ = await asyncio.to_thread(admin_request, admin_gateway, "POST", "/admin/v1/keys/k_missing/revoke",
                                            admin_gateway.operator)
        assert status == 404
    asyncio.run(scenario())


def test_admin_listener_serves_metrics(admin_gateway):
    import http.client
    context = ssl.create_default_context(cafile=admin_gateway.ca)
    context.load_cert_chain(*admin_gateway.operator)
    host, port = admin_gateway.admin_url.split("//")[1].split("/")[0].rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
    connection.request("GET", "/admin/v1/metrics", headers=admin_headers(admin_gateway))
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/plain; version=0.0.4")
    assert 'bulwark_connections{state="open"}' in text and "bulwark_ws_closes_total" in text


def test_admin_listener_without_a_ca_file_is_a_start_up_error(workdir):
    with pytest.raises(RuntimeError) as failed:
        Gateway(os.path.join(workdir, "admin-no-ca"), extra_args=("--admin-listen", "127.0.0.1:0"))
    assert "admin.client_ca_file" in str(failed.value)


def admin_json(server, method, path, body=None, cert=None, headers=None):
    import http.client
    context = ssl.create_default_context(cafile=server.ca)
    context.load_cert_chain(*(cert or server.operator))
    host, port = server.admin_url.split("//")[1].split("/")[0].rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=5)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body).encode(),
                           headers={"Content-Type": "application/json", **(admin_headers(server) if headers is None else headers)})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def test_admin_key_lifecycle_and_account_disable(admin_gateway):
    data = admin_gateway.data
    account_id = run_cli(data, "accounts", "create", "--name", "admin-api-" + os.urandom(3).hex(), "--fund", "USD=1000")["account_id"]
    signer = Ed25519Key()
    status, created = admin_json(admin_gateway, "POST", "/admin/v1/keys", {
        "account_id": account_id, "type": "ed25519", "public_key": b64u(signer.public_raw()), "scopes": ["read", "trade"],
        "ip_allowlist": ["127.0.0.1"], "max_order_notional": "500", "label": "made over the admin API"})
    assert status == 201, created
    key_id = created["key_id"]
    status, shown = admin_json(admin_gateway, "GET", f"/admin/v1/keys/{key_id}")
    assert status == 200 and shown["max_order_notional"] == "500" and shown["label"] == "made over the admin API"
    status, listed = admin_json(admin_gateway, "GET", f"/admin/v1/keys?account={account_id}")
    assert [k["key_id"] for k in listed["keys"]] == [key_id]
    # Strict bodies: unknown members and bad values are refused with the field named.
    status, error = admin_json(admin_gateway, "POST", "/admin/v1/keys", {"account_id": account_id, "scopes": ["read"],
                                                                         "public_key": "x", "is_admin": True})
    assert status == 400 and error["field"] == "params.is_admin"
    status, error = admin_json(admin_gateway, "POST", "/admin/v1/keys", {"account_id": account_id, "scopes": ["read"], "public_key": "AAAA"})
    assert status == 400 and error["error"] == "invalid_key"
    # HMAC keys: the secret is returned once.
    status, hmac_key = admin_json(admin_gateway, "POST", "/admin/v1/keys", {"account_id": account_id, "type": "hmac-sha256", "scopes": ["read"]})
    assert status == 201 and len(hmac_key["secret"]) == 43

    async def scenario():
        client = await Client.connect(admin_gateway.url, admin_gateway.ca)
        await client.login(key_id, signer)
        status, body = await asyncio.to_thread(admin_json, admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/disable")
        assert status == 200 and body["disabled"] is True and body["sessions_ended"] == 1
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=5)
        assert notice["params"]["reason"] == "account_disabled"
    asyncio.run(scenario())
    status, body = admin_json(admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/enable")
    assert status == 200
    new_signer = Ed25519Key()
    status, rotated = admin_json(admin_gateway, "POST", f"/admin/v1/keys/{key_id}/rotate",
                                 {"public_key": b64u(new_signer.public_raw()), "overlap_minutes": 0})
    assert status == 201 and rotated["replaces"] == key_id
    status, old = admin_json(admin_gateway, "GET", f"/admin/v1/keys/{key_id}")
    assert old["expires_ms"] <= time.time() * 1000 + 1000
    status, body = admin_json(admin_gateway, "POST", f"/admin/v1/keys/{rotated['key_id']}/unlock")
    assert status == 200 and body == {"unlocked": True}


def test_admin_enrols_totp_shows_and_revokes_sessions(admin_gateway):
    import base64
    import io

    import pyotp
    import zxingcpp
    from PIL import Image
    data = admin_gateway.data
    account_id = run_cli(data, "accounts", "create", "--name", "admin-mfa-" + os.urandom(3).hex())["account_id"]
    signer = Ed25519Key()
    key_id = run_cli(data, "keys", "create", "--account", account_id, "--type", "ed25519", "--public-key",
                     b64u(signer.public_raw()), "--scopes", "read")["key_id"]
    status, enrolment = admin_json(admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/mfa", {"algorithm": "sha256", "digits": 8})
    assert status == 201 and enrolment["algorithm"] == "SHA256" and len(enrolment["recovery_codes"]) == 10
    qr = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(enrolment["qr_png_base64"]))), formats=zxingcpp.BarcodeFormat.QRCode)
    assert [code.text for code in qr] == [enrolment["otpauth_uri"]]
    status, error = admin_json(admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/mfa", {"digits": 9})
    assert status == 400 and error["field"] == "params.digits"
    status, error = admin_json(admin_gateway, "POST", "/admin/v1/accounts/a_nobody/mfa", {})
    assert status == 400 and error["error"] == "mfa_enrolment_failed"

    async def scenario():
        client = await Client.connect(admin_gateway.url, admin_gateway.ca)
        session = await client.login(key_id, signer)
        code = pyotp.parse_uri(enrolment["otpauth_uri"]).now()
        assert (await client.call("private/mfa.verify", {"code": code}))["result"]["assurance"] == "aal2"
        status, shown = await asyncio.to_thread(admin_json, admin_gateway, "GET", f"/admin/v1/sessions/{session['session_id']}")
        assert status == 200 and shown["assurance"] == "aal2" and shown["connections"] == 1 and shown["risk"]["level"] == "low"
        status, body = await asyncio.to_thread(admin_json, admin_gateway, "POST", f"/admin/v1/sessions/{session['session_id']}/revoke")
        assert status == 200 and body == {"revoked": True}
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=5)
        assert notice["params"]["reason"] == "revoked"
        # Ended sessions are still shown, from the store.
        status, shown = await asyncio.to_thread(admin_json, admin_gateway, "GET", f"/admin/v1/sessions/{session['session_id']}")
        assert status == 200 and shown["live"] is False and shown["end_reason"] == "revoked"
        status, _ = await asyncio.to_thread(admin_json, admin_gateway, "POST", "/admin/v1/sessions/s_missing/revoke")
        assert status == 404
    asyncio.run(scenario())
    status, mfa = admin_json(admin_gateway, "GET", f"/admin/v1/accounts/{account_id}/mfa")
    assert status == 200 and mfa["active"] is True and mfa["recovery_codes_left"] == 10
    assert admin_json(admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/mfa/unlock") == (200, {"unlocked": True})
    assert admin_json(admin_gateway, "DELETE", f"/admin/v1/accounts/{account_id}/mfa") == (200, {"removed": True})
    assert admin_json(admin_gateway, "DELETE", f"/admin/v1/accounts/{account_id}/mfa")[0] == 404
def test_admin_rate_limit_endpoints_tiers_and_bans(admin_gateway):
    data = admin_gateway.data
    account_id = run_cli(data, "accounts", "create", "--name", "admin-tier-" + os.urandom(3).hex())["account_id"]
    signer = Ed25519Key()
    key_id = run_cli(data, "keys", "create", "--account", account_id, "--type", "ed25519", "--public-key",
                     b64u(signer.public_raw()), "--scopes", "read")["key_id"]
    status, body = admin_json(admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/tier", {"tier": "market_maker"})
    assert status == 200 and body == {"tier": "market_maker"}
    status, error = admin_json(admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/tier", {"tier": "platinum"})
    assert status == 400 and error["field"] == "params.tier"
    status, error = admin_json(admin_gateway, "POST", "/admin/v1/accounts/a_missing/tier", {"tier": "standard"})
    assert status == 404

    async def scenario():
        client = await Client.connect(admin_gateway.url, admin_gateway.ca)
        await client.login(key_id, signer)
        limits = (await client.call("private/session.status"))["result"]["rate_limits"]
        assert limits["tier"] == "market_maker"
        assert [b["limit"] for b in limits["buckets"] if b["bucket"] == "orders"] == [200]
        await client.close()
    asyncio.run(scenario())
    status, body = admin_json(admin_gateway, "GET", "/admin/v1/bans")
    assert status == 200 and body == {"bans": []}
    status, body = admin_json(admin_gateway, "POST", "/admin/v1/bans/ip:203.0.113.9/lift")
    assert status == 404 and body["error"] == "ban_not_found"
    status, body = admin_json(admin_gateway, "POST", "/admin/v1/bans/nonsense/lift")
    assert status == 400 and body["error"] == "invalid_subject"


def test_admin_creates_funds_lists_and_shows_accounts_like_the_cli(admin_gateway):
    data = admin_gateway.data
    name = "admin-acct-" + os.urandom(3).hex()
    # Creating or crediting an account creates money: a TOTP step-up is required.
    token_only = {"Authorization": "Bearer " + admin_gateway.admin_token}
    ca_key, ca, directory = admin_gateway.admin_ca
    dave = write_pair(directory, "dave", *make_client(ca_key, ca, "dave-operator"))
    status, body = admin_json(admin_gateway, "POST", "/admin/v1/accounts", {"name": name}, cert=dave, headers=token_only)
    assert status == 403 and body["error"] == "totp_step_up_required"
    status, created = admin_json(admin_gateway, "POST", "/admin/v1/accounts", {"name": name, "fund": "USD=2500"})
    assert status == 201 and created["name"] == name and created["tier"] == "standard" and created["status"] == "enabled"
    account_id = created["account_id"]
    # Bad input: a clear error and nothing created.
    assert admin_json(admin_gateway, "POST", "/admin/v1/accounts", {"name": name + "x", "fund": "usd=1"})[1]["error"] == "invalid_account"
    assert admin_json(admin_gateway, "POST", "/admin/v1/accounts", {"name": name})[0] == 409          # names are unique
    assert admin_json(admin_gateway, "POST", "/admin/v1/accounts", {"name": "two words"})[1]["error"] == "invalid_account"
    assert admin_json(admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/deposits", {"asset": "USD", "amount": "-5"})[0] == 400
    assert admin_json(admin_gateway, "POST", "/admin/v1/accounts/a_missing/deposits", {"asset": "USD", "amount": "5"})[0] == 404
    assert admin_json(admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/deposits", {"asset": "USD", "amount": "1e99"})[0] == 400
    status, body = admin_json(admin_gateway, "POST", f"/admin/v1/accounts/{account_id}/deposits", {"asset": "BTC", "amount": "1.5"})
    assert status == 201 and body == {"credited": True}
    status, listed = admin_json(admin_gateway, "GET", "/admin/v1/accounts")
    assert status == 200 and any(a["account_id"] == account_id and a["name"] == name for a in listed["accounts"])
    status, shown = admin_json(admin_gateway, "GET", f"/admin/v1/accounts/{account_id}")
    assert status == 200 and shown["account_id"] == account_id and shown["live_sessions_here"] == 0
    assert admin_json(admin_gateway, "GET", "/admin/v1/accounts/a_missing")[0] == 404
    # The CLI sees the same account, and credits it the same way; the venue holds both deposits.
    assert run_cli(data, "accounts", "show", account_id)["tier"] == "standard"
    assert run_cli(data, "accounts", "fund", account_id, "--fund", "USD=500") == {"account_id": account_id, "credited": 1}
    signer = Ed25519Key()
    key_id = run_cli(data, "keys", "create", "--account", account_id, "--type", "ed25519", "--public-key",
                     b64u(signer.public_raw()), "--scopes", "read")["key_id"]

    async def scenario():
        client = await Client.connect(admin_gateway.url, admin_gateway.ca)
        await client.login(key_id, signer)
        balances = {b["asset"]: b["total"] for b in (await client.call("private/account.balances"))["result"]["balances"]}
        assert balances == {"USD": "3000", "BTC": "1.5"}, balances
        await client.close()
    asyncio.run(scenario())


def test_admin_token_and_operator_totp_step_up_guard_the_admin_api(admin_gateway):
    ca_key, ca, directory = admin_gateway.admin_ca
    bob = write_pair(directory, "bob", *make_client(ca_key, ca, "bob-operator"))
    carol = write_pair(directory, "carol", *make_client(ca_key, ca, "carol-operator"))
    token_only = {"Authorization": "Bearer " + admin_gateway.admin_token}
    # No token, or a wrong one: 401, even with a valid operator certificate.
    assert admin_json(admin_gateway, "GET", "/admin/v1/sessions", cert=bob, headers={})[0] == 401
    assert admin_json(admin_gateway, "GET", "/admin/v1/sessions", cert=bob, headers={"Authorization": "Bearer nope"})[0] == 401
    # Health stays open to probes; reads need only the token.
    assert admin_json(admin_gateway, "GET", "/admin/v1/healthz", cert=bob, headers={})[0] == 200
    assert admin_json(admin_gateway, "GET", "/admin/v1/kill-switches", cert=bob, headers=token_only)[0] == 200
    # A destructive action needs a TOTP step-up.
    status, body = admin_json(admin_gateway, "POST", "/admin/v1/ip-blocks", {"cidr": "198.51.100.0/24"}, cert=bob, headers=token_only)
    assert status == 403 and body["error"] == "totp_step_up_required"
    wrong = f"{(int(admin_gateway.operator_totp.now()) + 1) % 1_000_000:06d}"
    status, body = admin_json(admin_gateway, "POST", "/admin/v1/ip-blocks", {"cidr": "198.51.100.0/24"}, cert=bob,
                              headers={**token_only, "X-Bulwark-TOTP": wrong})
    assert status == 403 and body["error"] == "totp_invalid"
    # The current time step's code may already be spent by another operator: the next one is in the window.
    code = admin_gateway.operator_totp.at(time.time() + 30)
    status, body = admin_json(admin_gateway, "POST", "/admin/v1/ip-blocks", {"cidr": "198.51.100.0/24", "expires_in_s": 60}, cert=bob,
                              headers={**token_only, "X-Bulwark-TOTP": code})
    assert status == 201 and body["cidr"] == "198.51.100.0/24"
    # Bob is stepped up for a while; the same code is useless to anyone else.
    status, _ = admin_json(admin_gateway, "POST", "/admin/v1/ip-blocks/remove", {"cidr": "198.51.100.0/24"}, cert=bob, headers=token_only)
    assert status == 200
    status, body = admin_json(admin_gateway, "POST", "/admin/v1/ip-blocks", {"cidr": "198.51.100.0/24"}, cert=carol,
                              headers={**token_only, "X-Bulwark-TOTP": code})
    assert status == 403 and body["error"] == "totp_invalid"



def test_mtls_bound_access_token_works_only_with_the_same_certificate(optional_gateway, pki, workdir):
    """RFC 8705: a token obtained over mTLS carries cnf.x5t#S256 and only logs in over that certificate."""
    import base64

    import jwt

    from test_oauth import register
    client = register(optional_gateway, workdir, "mtls-bound-" + os.urandom(3).hex(), scopes="read")
    client.tls = tls_context(optional_gateway, pki, "good")
    status, body, _ = client.token(dpop=False, scope="read")
    assert status == 200 and body["token_type"] == "Bearer", body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    expected = base64.urlsafe_b64encode(bytes.fromhex(fingerprint(pki["certs"]["good"]))).rstrip(b"=").decode()
    assert claims["cnf"] == {"x5t#S256": expected}

    async def login(label):
        import websockets
        ws = await websockets.connect(optional_gateway.url, ssl=tls_context(optional_gateway, pki, label), subprotocols=["bulwark.v1"])
        client_ws = Client(ws)
        client_ws.hello = json.loads(await ws.recv())
        reply = await client_ws.call("public/auth", {"grant_type": "bearer", "access_token": body["access_token"]})
        await ws.close()
        return reply

    assert "result" in asyncio.run(login("good"))
    for other in (None, "second"):
        reply = asyncio.run(login(other))
        assert reply["error"]["message"] == "auth_failed", (other, reply)
