"""External OpenID Connect issuers: the gateway as a resource server for someone else's tokens.

A small fake issuer (http.server + ssl, with a test CA made here) serves discovery and a JWKS on
127.0.0.1; the gateway fetches them with async-http-client over TLS, caches them, refreshes on an
unknown kid at most once per interval, and never follows a token's jku/x5u/jwk.
"""
import asyncio
import datetime
import http.server
import ipaddress
import json
import os
import ssl
import threading
import time

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import subprocess

from bulwark_client import Client
from conftest import BINARY, Gateway, run_cli


def make_ca_and_cert(directory):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake issuer test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(directory, name) for name in ["ca.pem", "cert.pem", "key.pem"]}
    open(paths["ca.pem"], "wb").write(ca.public_bytes(serialization.Encoding.PEM))
    open(paths["cert.pem"], "wb").write(cert.public_bytes(serialization.Encoding.PEM))
    open(paths["key.pem"], "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


class FakeIssuer:
    """Discovery + JWKS over HTTPS; counts requests per path."""

    def __init__(self, directory):
        self.paths = make_ca_and_cert(directory)
        self.keys = {}
        self.hits = {}
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                issuer.hits[self.path] = issuer.hits.get(self.path, 0) + 1
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    body = {"keys": [dict(jwk, kid=kid) for kid, (_, jwk) in issuer.keys.items()]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.paths["cert.pem"], self.paths["key.pem"])
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add_rsa_key(self, kid):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        self.keys[kid] = (key, jwk)
        return key

    def token(self, kid, alg="PS256", key=None, **claims):
        now = int(time.time())
        body = {"iss": self.url, "sub": "alice", "aud": "bulwark-test", "iat": now, "exp": now + 300, "jti": os.urandom(8).hex(),
                "scope": "read trade", **claims}
        return jwt.encode(body, key or self.keys[kid][0], algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def login(gateway, token):
    async def go():
        ws = await Client.connect(gateway.url, gateway.ca)
        reply = await ws.call("public/auth", {"grant_type": "bearer", "access_token": token})
        await ws.close()
        return reply
    return asyncio.run(go())


def test_external_issuer_discovery_jwks_refresh_and_acr_for_trade(workdir):
    directory = os.path.join(workdir, "external")
    os.makedirs(directory, exist_ok=True)
    issuer = FakeIssuer(directory)
    data = os.path.join(directory, "data")
    subprocess.run([BINARY, "init", "--data", data, "--json"], check=True, capture_output=True, timeout=60)
    account = run_cli(data, "accounts", "create", "--name", "alice")["account_id"]
    issuer.add_rsa_key("k1")
    config = {"issuers": [{
        "issuer": issuer.url, "discovery_url": issuer.url + "/.well-known/openid-configuration", "audiences": ["bulwark-test"],
        "algorithms": ["PS256", "ES256"], "accounts": {"alice": account}, "scopes": ["read", "trade"], "trade_acr": ["urn:bulwark:mfa"],
        "refresh_min_interval_ms": 2000}]}
    issuers_file = os.path.join(directory, "issuers.json")
    json.dump(config, open(issuers_file, "w"))
    gateway = Gateway(data, extra_env={"BULWARK_OAUTH_EXTERNAL_ISSUERS_FILE": issuers_file,
                                       "BULWARK_OAUTH_ISSUERS_CA_FILE": issuer.paths["ca.pem"],
                                       "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000"})
    try:
        # Without the acr the operator requires for trading, the session gets read only.
        reply = login(gateway, issuer.token("k1"))
        assert "result" in reply, (reply, gateway.output()[-2000:])
        assert reply["result"]["scopes"] == ["read"]
        assert reply["result"]["account_id"] == account
        reply = login(gateway, issuer.token("k1", acr="urn:bulwark:mfa"))
        assert sorted(reply["result"]["scopes"]) == ["read", "trade"]

        # The issuer rotates: an unknown kid triggers one refresh, after which the new key works.
        time.sleep(2.1)
        issuer.add_rsa_key("k2")
        assert "result" in login(gateway, issuer.token("k2"))

        # A burst of junk kids fetches the JWKS at most once per interval.
        before = issuer.hits.get("/jwks", 0)
        for i in range(6):
            assert login(gateway, issuer.token(f"junk-{i}", key=issuer.keys["k1"][0]))["error"]["message"] == "auth_failed"
        assert issuer.hits.get("/jwks", 0) - before <= 1

        # jku / x5u / embedded jwk are never followed: signed by an attacker, pointing at the issuer's host.
        attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        attacker_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
        for extra in [{"jku": issuer.url + "/evil-jwks"}, {"x5u": issuer.url + "/evil-cert"}, {"jwk": attacker_jwk}]:
            now = int(time.time())
            forged = jwt.encode({"iss": issuer.url, "sub": "alice", "aud": "bulwark-test", "iat": now, "exp": now + 300, "scope": "read"},
                                attacker, algorithm="PS256", headers={"kid": "k1", "typ": "at+jwt", **extra})
            assert login(gateway, forged)["error"]["message"] == "auth_failed"
        assert "/evil-jwks" not in issuer.hits and "/evil-cert" not in issuer.hits

        # Wrong audience, an algorithm outside the issuer's allowlist, an unmapped subject, expired.
        assert login(gateway, issuer.token("k1", aud="someone-else"))["error"]["message"] == "auth_failed"
        assert login(gateway, issuer.token("k1", alg="RS256"))["error"]["message"] == "auth_failed"
        assert login(gateway, issuer.token("k1", sub="mallory"))["error"]["message"] == "auth_failed"
        assert login(gateway, issuer.token("k1", exp=int(time.time()) - 30))["error"]["message"] == "auth_failed"
    finally:
        gateway.stop()
        issuer.stop()
