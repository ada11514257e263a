"""OAuth 2.0 / DPoP / JWT: the gateway driven by a third-party JOSE stack (pyjwt + cryptography).

The client registers with private_key_jwt, gets a DPoP-bound token from /oauth/token, pyjwt verifies
that token against /oauth/jwks, and the token then authenticates a WebSocket with a DPoP proof bound
to the connection's challenge. Then every negative the issue lists, on the wire.
"""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from bulwark_client import Client
from conftest import Gateway, run_cli


def run(coro):
    return asyncio.run(coro)


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OAuthClient:
    """A third-party OAuth client: its own Ed25519 key for private_key_jwt, a P-256 DPoP key."""

    def __init__(self, gateway, client_id=None, key=None):
        self.gateway = gateway
        address = gateway.url.split("/")[2]
        self.issuer = f"https://{address}"
        self.tls = ssl.create_default_context(cafile=gateway.ca)
        self.key = key or ed25519.Ed25519PrivateKey.generate()
        self.dpop_key = ec.generate_private_key(ec.SECP256R1())
        self.client_id = client_id

    def public_jwk(self):
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw), "kid": "client-key-1"}

    def dpop_jwk(self, key=None):
        numbers = (key or self.dpop_key).public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64u(numbers.x.to_bytes(32, "big")), "y": b64u(numbers.y.to_bytes(32, "big"))}

    def assertion(self, aud=None, exp_delta=60, iat_delta=0, jti=None):
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": aud or self.issuer + "/oauth/token",
                  "iat": now + iat_delta, "exp": now + exp_delta, "jti": jti or secrets.token_urlsafe(16)}
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": "client-key-1"})

    def dpop_proof(self, htm, htu, access_token=None, nonce=None, jti=None, key=None, iat_delta=0, typ="dpop+jwt"):
        claims = {"jti": jti or secrets.token_urlsafe(16), "htm": htm, "htu": htu, "iat": int(time.time()) + iat_delta}
        if access_token:
            claims["ath"] = b64u(hashlib.sha256(access_token.encode()).digest())
        if nonce:
            claims["nonce"] = nonce
        signer = key or self.dpop_key
        return jwt.encode(claims, signer, algorithm="ES256", headers={"typ": typ, "jwk": self.dpop_jwk(signer)})

    def post(self, path, form, headers=None):
        body = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.issuer + path, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=10) as response:
                return response.status, json.loads(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}"), dict(error.headers)

    def get(self, path):
        with urllib.request.urlopen(self.issuer + path, context=self.tls, timeout=10) as response:
            return json.loads(response.read())

    def auth_form(self, **kwargs):
        return {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.assertion(**kwargs)}

    def token(self, dpop=True, scope=None, **extra):
        form = {"grant_type": "client_credentials", **self.auth_form(), **extra}
        if scope:
            form["scope"] = scope
        headers = {"DPoP": self.dpop_proof("POST", self.issuer + "/oauth/token")} if dpop else {}
        return self.post("/oauth/token", form, headers)

    def ws_proof(self, token, challenge, **kwargs):
        return self.dpop_proof("GET", self.issuer + "/ws/v1", access_token=token, nonce=challenge, **kwargs)


def register(gateway, workdir, name, scopes="read,trade"):
    account = run_cli(gateway.data, "accounts", "create", "--name", name, "--fund", "USD=100000")["account_id"]
    client = OAuthClient(gateway)
    path = os.path.join(workdir, f"{name}.jwk.json")
    with open(path, "w") as handle:
        json.dump(client.public_jwk(), handle)
    created = run_cli(gateway.data, "oauth", "clients", "create", "--account", account, "--auth", "private_key_jwt",
                      "--jwk", path, "--scopes", scopes)
    client.client_id = created["client_id"]
    client.account_id = account
    return client


def our_keys(client):
    return {key["kid"]: key for key in client.get("/oauth/jwks")["keys"]}


async def bearer_login(gateway, token, dpop=None, challenge_from=None, **extra):
    ws = await Client.connect(gateway.url, gateway.ca)
    params = {"grant_type": "bearer", "access_token": token, **extra}
    if dpop is not None:
        params["dpop"] = dpop(ws.challenge) if callable(dpop) else dpop
    reply = await ws.call("public/auth", params)
    return ws, reply


def test_third_party_flow_private_key_jwt_dpop_then_websocket(gateway, workdir):
    client = register(gateway, workdir, "oauth-flow")
    status, body, _ = client.token(scope="read trade")
    assert status == 200, body
    assert body["token_type"] == "DPoP"
    assert body["expires_in"] <= 900
    token = body["access_token"]

    # pyjwt verifies our token against our JWKS, with every RFC 9068 claim required.
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    jwk = our_keys(client)[header["kid"]]
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[jwk["alg"]], audience=client.issuer, issuer=client.issuer,
                        options={"require": ["iss", "aud", "sub", "client_id", "iat", "exp", "jti", "scope"]})
    assert claims["client_id"] == client.client_id
    assert claims["cnf"]["jkt"]
    assert claims["exp"] - claims["iat"] <= 900

    async def scenario():
        ws, reply = await bearer_login(gateway, token, dpop=lambda challenge: client.ws_proof(token, challenge))
        assert "result" in reply, reply
        result = reply["result"]
        assert result["account_id"] == client.account_id
        assert sorted(result["scopes"]) == ["read", "trade"]
        status = await ws.call("private/session.status")
        assert "result" in status, status
        await ws.close()

    run(scenario())

    metadata = client.get("/.well-known/oauth-authorization-server")
    assert metadata["issuer"] == client.issuer
    assert metadata["token_endpoint"] == client.issuer + "/oauth/token"
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]


def test_websocket_dpop_negatives(gateway, workdir):
    client = register(gateway, workdir, "oauth-dpop-neg")
    token = client.token()[1]["access_token"]

    async def scenario():
        # A DPoP-bound token without a proof (plain bearer): refused.
        ws, reply = await bearer_login(gateway, token)
        assert reply["error"]["message"] == "auth_failed"
        await ws.close()
        # A proof for another connection's challenge.
        other = await Client.connect(gateway.url, gateway.ca)
        ws, reply = await bearer_login(gateway, token, dpop=client.ws_proof(token, other.challenge))
        assert reply["error"]["message"] == "auth_failed"
        await ws.close()
        await other.close()
        # A reused proof jti: the first login succeeds, the same proof on the same challenge is a replay.
        ws = await Client.connect(gateway.url, gateway.ca)
        proof = client.ws_proof(token, ws.challenge, jti="fixed-jti-1")
        second = await Client.connect(gateway.url, gateway.ca)
        first = await ws.call("public/auth", {"grant_type": "bearer", "access_token": token, "dpop": proof})
        assert "result" in first, first
        again = await second.call("public/auth", {"grant_type": "bearer", "access_token": token,
                                                  "dpop": client.ws_proof(token, second.challenge, jti="fixed-jti-1")})
        assert again["error"]["message"] == "replay_detected"
        await ws.close()
        await second.close()
        # Every §4.3 check that can fail on the wire.
        stranger = ec.generate_private_key(ec.SECP256R1())
        ws_url = client.issuer + "/ws/v1"
        bad_proofs = {
            "htm": lambda t, c: client.dpop_proof("POST", ws_url, t, c),
            "htu": lambda t, c: client.dpop_proof("GET", client.issuer + "/oauth/token", t, c),
            "ath": lambda t, c: client.dpop_proof("GET", ws_url, t + "x", c),
            "key": lambda t, c: client.ws_proof(t, c, key=stranger),
            "typ": lambda t, c: client.ws_proof(t, c, typ="JWT"),
            "iat-old": lambda t, c: client.ws_proof(t, c, iat_delta=-3600),
            "iat-future": lambda t, c: client.ws_proof(t, c, iat_delta=3600),
            "no-nonce": lambda t, c: client.dpop_proof("GET", ws_url, t),
            "garbage": lambda t, c: "not-a-jwt",
        }
        for name, make in bad_proofs.items():
            # A fresh token each time: failed logins are throttled per token (and per address).
            fresh = client.token()[1]["access_token"]
            ws, reply = await bearer_login(gateway, fresh, dpop=lambda c: make(fresh, c))
            assert reply.get("error", {}).get("message") == "auth_failed", (name, reply)
            await ws.close()

    run(scenario())


def test_token_endpoint_negatives(gateway, workdir):
    client = register(gateway, workdir, "oauth-token-neg")
    form = {"grant_type": "client_credentials"}
    for name, auth in {
        "wrong aud": client.auth_form(aud="https://elsewhere.example/oauth/token"),
        "exp 5 min past": client.auth_form(exp_delta=-300, iat_delta=-360),
        "iat 2 min ahead": client.auth_form(iat_delta=120),
    }.items():
        status, body, _ = client.post("/oauth/token", {**form, **auth})
        assert (status, body.get("error")) == (401, "invalid_client"), name
    # A reused assertion.
    fixed = client.auth_form(jti="assertion-jti-1")
    assert client.post("/oauth/token", {**form, **fixed})[0] == 200
    assert client.post("/oauth/token", {**form, **fixed})[0] == 401
    # A DPoP proof for the wrong method, and two DPoP headers are refused with invalid_dpop_proof.
    status, body, _ = client.post("/oauth/token", {**form, **client.auth_form()},
                                  {"DPoP": client.dpop_proof("GET", client.issuer + "/oauth/token")})
    assert (status, body["error"]) == (400, "invalid_dpop_proof")
    # Tokens never travel in the query string.
    request = urllib.request.Request(client.issuer + "/oauth/token?access_token=x", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, context=client.tls, timeout=10)
    assert error.value.code == 400


def test_refresh_rotation_reuse_revokes_the_family_and_its_sessions(gateway, workdir):
    client = register(gateway, workdir, "oauth-refresh")
    status, body, _ = client.token(dpop=False)
    first_refresh, first_access = body["refresh_token"], body["access_token"]
    status, body, _ = client.post("/oauth/token", {"grant_type": "refresh_token", "refresh_token": first_refresh, **client.auth_form()})
    assert status == 200, body
    second_access = body["access_token"]
    assert body["refresh_token"] != first_refresh

    async def scenario():
        ws, reply = await bearer_login(gateway, second_access)
        assert "result" in reply, reply
        # Reuse of the rotated token: invalid_grant, and the live session of the family closes (4002).
        status, body, _ = client.post("/oauth/token", {"grant_type": "refresh_token", "refresh_token": first_refresh, **client.auth_form()})
        assert (status, body["error"]) == (400, "invalid_grant")
        notice = await ws.next_notification(lambda m: m.get("method") == "session.terminated")
        assert notice["params"]["reason"] == "token_revoked"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.ws.recv(), 5)
        assert closed.value.rcvd.code == 4002
        ws2, reply = await bearer_login(gateway, first_access)
        assert reply["error"]["message"] == "auth_failed"
        await ws2.close()

    run(scenario())


def test_revocation_rfc7009_closes_live_sessions_and_introspection_goes_inactive(gateway, workdir):
    client = register(gateway, workdir, "oauth-revoke")
    token = client.token(dpop=False)[1]["access_token"]
    status, body, _ = client.post("/oauth/introspect", {"token": token, **client.auth_form()})
    assert status == 200 and body["active"] is True and body["client_id"] == client.client_id
    assert client.post("/oauth/introspect", {"token": token})[0] == 401

    async def scenario():
        ws, reply = await bearer_login(gateway, token)
        assert "result" in reply, reply
        status, body, _ = client.post("/oauth/revoke", {"token": token, "token_type_hint": "access_token", **client.auth_form()})
        assert status == 200
        notice = await ws.next_notification(lambda m: m.get("method") == "session.terminated")
        assert notice["params"]["reason"] == "token_revoked"
        ws2, reply = await bearer_login(gateway, token)
        assert reply["error"]["message"] == "auth_failed"
        await ws2.close()

    run(scenario())
    assert client.post("/oauth/introspect", {"token": token, **client.auth_form()})[1] == {"active": False}
    assert client.post("/oauth/introspect", {"token": "garbage", **client.auth_form()})[1] == {"active": False}
    # Revoking garbage is still 200 (RFC 7009 §2.2).
    assert client.post("/oauth/revoke", {"token": "garbage", **client.auth_form()})[0] == 200


def forge(header, claims, signature=b""):
    encode = lambda obj: b64u(json.dumps(obj, separators=(",", ":")).encode())
    return encode(header) + "." + encode(claims) + "." + b64u(signature)


def test_hostile_tokens_are_refused_on_the_websocket(gateway, workdir):
    client = register(gateway, workdir, "oauth-hostile")
    token = client.token(dpop=False)[1]["access_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    jwk = our_keys(client)[header["kid"]]
    public_bytes = base64.urlsafe_b64decode(jwk["x"] + "==")
    attacker = ed25519.Ed25519PrivateKey.generate()
    attacker_raw = attacker.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    now = int(time.time())
    id_token = jwt.encode({**claims, "nonce": "n"}, attacker, algorithm="EdDSA", headers={"kid": header["kid"], "typ": "JWT"})

    hostile = {}
    for alg in ["none", "None", "NONE", "nOnE"]:
        hostile[f"alg {alg}"] = forge({**header, "alg": alg}, claims)
    hs_input = b64u(json.dumps({**header, "alg": "HS256"}).encode()) + "." + b64u(json.dumps(claims).encode())
    hostile["HS256 with our public key"] = hs_input + "." + b64u(hmac.new(public_bytes, hs_input.encode(), hashlib.sha256).digest())
    hostile["embedded jwk"] = jwt.encode(claims, attacker, algorithm="EdDSA",
                                         headers={"kid": header["kid"], "typ": "at+jwt", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64u(attacker_raw)}})
    hostile["jku"] = jwt.encode(claims, attacker, algorithm="EdDSA", headers={"kid": header["kid"], "typ": "at+jwt", "jku": "https://127.0.0.1:1/jwks"})
    hostile["x5u"] = jwt.encode(claims, attacker, algorithm="EdDSA", headers={"kid": header["kid"], "typ": "at+jwt", "x5u": "https://127.0.0.1:1/cert"})
    for kid in ["../../../../dev/null", "x' UNION SELECT '1';--", "|sleep 10", ""]:
        hostile[f"kid {kid!r}"] = jwt.encode(claims, attacker, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})
    hostile["kid 4 KB"] = jwt.encode(claims, attacker, algorithm="EdDSA", headers={"kid": "A" * 4000, "typ": "at+jwt"})
    parts = token.split(".")
    hostile["stripped signature"] = parts[0] + "." + parts[1] + "."
    hostile["zeroed signature"] = parts[0] + "." + parts[1] + "." + b64u(bytes(64))
    tampered = dict(claims, scope="read trade account")
    hostile["tampered claims"] = parts[0] + "." + b64u(json.dumps(tampered).encode()) + "." + parts[2]
    hostile["expired"] = jwt.encode({**claims, "exp": now - 60}, attacker, algorithm="EdDSA", headers={"kid": header["kid"], "typ": "at+jwt"})
    hostile["id token"] = id_token
    hostile["refresh token"] = client.token(dpop=False)[1]["refresh_token"]

    async def scenario():
        for name, bad in hostile.items():
            ws, reply = await bearer_login(gateway, bad)
            assert reply.get("error", {}).get("message") == "auth_failed", (name, reply)
            await ws.close()
        # A 10 KB kid does not even parse as a message within the string limit.
        huge = jwt.encode(claims, attacker, algorithm="EdDSA", headers={"kid": "A" * 10240, "typ": "at+jwt"})
        ws = await Client.connect(gateway.url, gateway.ca)
        await ws.send_raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "public/auth",
                                      "params": {"grant_type": "bearer", "access_token": huge}}))
        reply = await ws.recv_json()
        # Beyond the 6 KiB string limit the frame is refused before parsing finishes (parse_error, id null).
        assert reply["error"]["message"] in ("auth_failed", "parse_error", "invalid_params"), reply
        await ws.close()
        # The honest token still works after all that.
        ws, reply = await bearer_login(gateway, token)
        assert "result" in reply, reply
        await ws.close()

    run(scenario())


def test_tokens_for_another_issuer_or_audience_are_refused(gateway, workdir):
    # A second gateway with its own issuer (its port) and audience: each one's tokens mean nothing to the other.
    data = os.path.join(workdir, "oauth-aud")
    server = Gateway(data, extra_env={"BULWARK_OAUTH_AUDIENCE": "https://trading.example/api"})
    try:
        other = register(server, workdir, "oauth-aud")
        other_token = other.token(dpop=False)[1]["access_token"]
        assert jwt.decode(other_token, options={"verify_signature": False})["aud"] == "https://trading.example/api"
        mine = register(gateway, workdir, "oauth-aud-home")
        my_token = mine.token(dpop=False)[1]["access_token"]

        async def scenario():
            ws, reply = await bearer_login(server, other_token)
            assert "result" in reply, reply
            await ws.close()
            for target, token in [(gateway, other_token), (server, my_token)]:
                ws, reply = await bearer_login(target, token)
                assert reply["error"]["message"] == "auth_failed", reply
                await ws.close()

        run(scenario())
    finally:
        server.stop()
