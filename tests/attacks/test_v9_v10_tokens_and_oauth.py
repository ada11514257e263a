"""ASVS 5.0 V9 (self-contained tokens) and V10 (OAuth, DPoP): hostile access tokens and DPoP proofs
on the WebSocket bearer grant, and the token endpoint (catalogue E46-E58, F59-F70). One test per
case; the OAuth client is the integration suite's third-party one (pyjwt + cryptography)."""
import base64
import datetime
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request

import jwt
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from attack import connect, run
from test_oauth import bearer_login, forge, our_keys, register   # helpers only, no tests

b64u = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()
ATTACKER = ed25519.Ed25519PrivateKey.generate()
ATTACKER_RAW = ATTACKER.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture(scope="module")
def oauth(target, workdir):
    client = register(target, workdir, "atk-oauth-" + secrets.token_hex(3))
    token = client.token(dpop=False)[1]["access_token"]
    return client, token


def self_signed_cert_der():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def signed_by_attacker(claims, **header):
    return jwt.encode(claims, ATTACKER, algorithm="EdDSA", headers={"typ": "at+jwt", **header})


def hostile_token(case, client, token):
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = header["kid"]
    now = int(time.time())
    parts = token.split(".")
    if case.startswith("alg "):
        return forge({**header, "alg": case[4:]}, claims)
    if case == "HS256 keyed with our public key":
        public = base64.urlsafe_b64decode(our_keys(client)[kid]["x"] + "==")
        signing_input = b64u(json.dumps({**header, "alg": "HS256"}).encode()) + "." + parts[1]
        return signing_input + "." + b64u(hmac.new(public, signing_input.encode(), hashlib.sha256).digest())
    if case.startswith("HS256 weak secret "):
        return jwt.encode(claims, case.rsplit(" ", 1)[1], algorithm="HS256", headers={"kid": kid, "typ": "at+jwt"})
    if case == "RS256 (PKCS#1 v1.5)":
        return jwt.encode(claims, rsa.generate_private_key(65537, 2048), algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})
    if case == "ES256 psychic signature r=s=0":
        return forge({**header, "alg": "ES256"}, claims, bytes(64))
    if case == "embedded jwk":
        return signed_by_attacker(claims, kid=kid, jwk={"kty": "OKP", "crv": "Ed25519", "x": b64u(ATTACKER_RAW)})
    if case == "jku":
        return signed_by_attacker(claims, kid=kid, jku="https://127.0.0.1:1/jwks.json")
    if case == "x5u":
        return signed_by_attacker(claims, kid=kid, x5u="https://127.0.0.1:1/cert.pem")
    if case == "x5c self-signed":
        return signed_by_attacker(claims, kid=kid, x5c=[base64.b64encode(self_signed_cert_der()).decode()])
    if case == "crit unknown":
        return signed_by_attacker(claims, kid=kid, crit=["exp"])
    if case.startswith("kid "):
        return signed_by_attacker(claims, kid={"kid traversal": "../../../../dev/null", "kid sql": "x' UNION SELECT '1';--",
                                               "kid shell": "|sleep 10", "kid empty": "", "kid 4 KB": "A" * 4000}[case])
    if case == "stripped signature":
        return parts[0] + "." + parts[1] + "."
    if case == "zeroed signature":
        return parts[0] + "." + parts[1] + "." + b64u(bytes(64))
    if case == "foreign signature":
        return parts[0] + "." + parts[1] + "." + b64u(ATTACKER.sign(b"something else"))
    if case == "scope raised after signing":
        return parts[0] + "." + b64u(json.dumps(dict(claims, scope="read trade account")).encode()) + "." + parts[2]
    if case == "sub swapped after signing":
        return parts[0] + "." + b64u(json.dumps(dict(claims, sub="a_someone_else")).encode()) + "." + parts[2]
    if case == "exp in the past":
        return signed_by_attacker({**claims, "exp": now - 60}, kid=kid)
    if case == "nbf in the future":
        return signed_by_attacker({**claims, "nbf": now + 120}, kid=kid)
    if case == "iat far in the future":
        return signed_by_attacker({**claims, "iat": now + 3600}, kid=kid)
    if case == "iss with a trailing slash":
        return signed_by_attacker({**claims, "iss": claims["iss"] + "/"}, kid=kid)
    if case == "aud of another service":
        return signed_by_attacker({**claims, "aud": "https://other.example/api"}, kid=kid)
    if case == "id token (typ JWT, nonce)":
        return jwt.encode({**claims, "nonce": "n"}, ATTACKER, algorithm="EdDSA", headers={"kid": kid, "typ": "JWT"})
    if case == "logout token":
        return jwt.encode({**claims, "events": {}}, ATTACKER, algorithm="EdDSA", headers={"kid": kid, "typ": "logout+jwt"})
    if case == "refresh token":
        return client.token(dpop=False)[1]["refresh_token"]
    if case == "non-base64url characters":
        return parts[0] + "." + parts[1].replace("A", "+", 1) + "/==." + parts[2]
    if case == "extra segment":
        return token + "." + parts[2]
    if case == "JWE (five segments)":
        return b64u(json.dumps({"alg": "dir", "enc": "A256GCM"}).encode()) + "..AAAA.BBBB.CCCC"
    if case == "empty":
        return ""
    raise AssertionError(case)


CASES = ["alg none", "alg None", "alg NONE", "alg nOnE", "HS256 keyed with our public key",
         "HS256 weak secret secret", "HS256 weak secret password", "HS256 weak secret bulwark",
         "RS256 (PKCS#1 v1.5)", "ES256 psychic signature r=s=0", "embedded jwk", "jku", "x5u", "x5c self-signed",
         "crit unknown", "kid traversal", "kid sql", "kid shell", "kid empty", "kid 4 KB", "stripped signature",
         "zeroed signature", "foreign signature", "scope raised after signing", "sub swapped after signing",
         "exp in the past", "nbf in the future", "iat far in the future", "iss with a trailing slash",
         "aud of another service", "id token (typ JWT, nonce)", "logout token", "refresh token",
         "non-base64url characters", "extra segment", "JWE (five segments)", "empty"]


@pytest.mark.parametrize("case", CASES)
def test_e46_e58_hostile_access_token_is_auth_failed(target, oauth, case):
    client, token = oauth
    bad = hostile_token(case, client, token)

    async def scenario():
        ws, reply = await bearer_login(target, bad)
        assert reply.get("error", {}).get("code") == 10002 and reply["error"]["message"] == "auth_failed", (case, reply)
        await ws.close()
    run(scenario())


def test_e57_a_one_megabyte_token_closes_1009_before_parsing(target):
    async def scenario():
        client = await connect(target)
        await client.ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "public/auth",
                                         "params": {"grant_type": "bearer", "access_token": "A" * (1 << 20)}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json()
        assert closed.value.rcvd.code == 1009
    run(scenario())


def test_e46_the_honest_token_still_logs_in(target, oauth):
    async def scenario():
        ws, reply = await bearer_login(target, oauth[1])
        assert "result" in reply, reply
        await ws.close()
    run(scenario())


# --- DPoP ----------------------------------------------------------------------------------------

STRANGER = ec.generate_private_key(ec.SECP256R1())


def bad_proof(case, client, token, challenge):
    url = client.issuer + "/ws/v1"
    if case == "htm POST":
        return client.dpop_proof("POST", url, token, challenge)
    if case == "htu of the token endpoint":
        return client.dpop_proof("GET", client.issuer + "/oauth/token", token, challenge)
    if case == "htu with another host":
        return client.dpop_proof("GET", "https://evil.example/ws/v1", token, challenge)
    if case == "ath of another token":
        return client.dpop_proof("GET", url, token + "x", challenge)
    if case == "no ath":
        return client.dpop_proof("GET", url, None, challenge)
    if case == "key other than cnf.jkt":
        return client.ws_proof(token, challenge, key=STRANGER)
    if case == "typ JWT":
        return client.ws_proof(token, challenge, typ="JWT")
    if case == "iat an hour old":
        return client.ws_proof(token, challenge, iat_delta=-3600)
    if case == "iat an hour ahead":
        return client.ws_proof(token, challenge, iat_delta=3600)
    if case == "no nonce (challenge)":
        return client.dpop_proof("GET", url, token)
    if case == "another connection's challenge":
        return client.ws_proof(token, b64u(secrets.token_bytes(32)))
    if case == "alg none":
        header = {"typ": "dpop+jwt", "alg": "none", "jwk": client.dpop_jwk()}
        return forge(header, {"jti": secrets.token_urlsafe(8), "htm": "GET", "htu": url, "iat": int(time.time()),
                              "nonce": challenge, "ath": b64u(hashlib.sha256(token.encode()).digest())})
    if case == "jwk with a private part":
        numbers = client.dpop_key.private_numbers()
        jwk = dict(client.dpop_jwk(), d=b64u(numbers.private_value.to_bytes(32, "big")))
        claims = {"jti": secrets.token_urlsafe(8), "htm": "GET", "htu": url, "iat": int(time.time()), "nonce": challenge,
                  "ath": b64u(hashlib.sha256(token.encode()).digest())}
        return jwt.encode(claims, client.dpop_key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})
    if case == "garbage":
        return "not-a-jwt"
    raise AssertionError(case)


DPOP_CASES = ["htm POST", "htu of the token endpoint", "htu with another host", "ath of another token", "no ath",
              "key other than cnf.jkt", "typ JWT", "iat an hour old", "iat an hour ahead", "no nonce (challenge)",
              "another connection's challenge", "alg none", "jwk with a private part", "garbage"]


@pytest.mark.parametrize("case", DPOP_CASES)
def test_f59_f62_bad_dpop_proof_is_auth_failed(target, oauth, case):
    client = oauth[0]
    fresh = client.token()[1]["access_token"]     # DPoP-bound; a fresh one per case (failures throttle per token)

    async def scenario():
        ws, reply = await bearer_login(target, fresh, dpop=lambda challenge: bad_proof(case, client, fresh, challenge))
        assert reply.get("error", {}).get("message") == "auth_failed", (case, reply)
        await ws.close()
    run(scenario())


def test_f61_dpop_bound_token_as_plain_bearer_is_auth_failed(target, oauth):
    fresh = oauth[0].token()[1]["access_token"]

    async def scenario():
        ws, reply = await bearer_login(target, fresh)
        assert reply["error"]["message"] == "auth_failed", reply
        await ws.close()
    run(scenario())


def test_f60_reused_dpop_proof_jti_is_replay_detected(target, oauth):
    client = oauth[0]
    fresh = client.token()[1]["access_token"]

    async def scenario():
        first, reply = await bearer_login(target, fresh, dpop=lambda c: client.ws_proof(fresh, c, jti="atk-fixed-jti"))
        assert "result" in reply, reply
        second, reply = await bearer_login(target, fresh, dpop=lambda c: client.ws_proof(fresh, c, jti="atk-fixed-jti"))
        assert reply["error"]["code"] == 10004 and reply["error"]["message"] == "replay_detected", reply
        await first.close()
        await second.close()
    run(scenario())


@pytest.mark.parametrize("query", ["?access_token=x", "?client_assertion=x"])
def test_f64_tokens_in_the_query_string_of_oauth_endpoints_are_400(target, oauth, query):
    client = oauth[0]
    request = urllib.request.Request(client.issuer + "/oauth/token" + query, data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, context=client.tls, timeout=10)
    assert error.value.code == 400


@pytest.mark.parametrize("case", ["wrong aud", "exp 5 min past", "iat 2 min ahead", "reused jti"])
def test_f70_bad_client_assertions_are_invalid_client(target, oauth, case):
    client = oauth[0]
    form = {"grant_type": "client_credentials"}
    if case == "reused jti":
        fixed = client.auth_form(jti="atk-assertion-" + secrets.token_hex(4))
        assert client.post("/oauth/token", {**form, **fixed})[0] == 200
        auth = fixed
    else:
        auth = {"wrong aud": lambda: client.auth_form(aud="https://elsewhere.example/oauth/token"),
                "exp 5 min past": lambda: client.auth_form(exp_delta=-300, iat_delta=-360),
                "iat 2 min ahead": lambda: client.auth_form(iat_delta=120)}[case]()
    status, body, _ = client.post("/oauth/token", {**form, **auth})
    assert (status, body.get("error")) == (401, "invalid_client"), (case, status, body)


@pytest.mark.parametrize("grant", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"])
def test_f_grants_the_client_does_not_have_are_refused(target, oauth, grant):
    client = oauth[0]
    status, body, _ = client.post("/oauth/token", {"grant_type": grant, "username": "u", "password": "p", **client.auth_form()})
    assert status == 400 and body["error"] in ("unsupported_grant_type", "unauthorized_client"), (status, body)
