"""ASVS 5.0 V11 (cryptography) on the wire: signature encodings and algorithms a key does not
have. Sealed frames tampered in flight (V4.1.5) are attacked in tests/integration/test_sealed_frames.py
(12 violations, each 4005) and by the `sealed_frame` fuzz target."""
import base64
import os

import pytest

from attack import cli, connect, run, trader
from bulwark_client import Ed25519Key, P256Key, b64u


@pytest.mark.parametrize("case", ["DER-encoded ECDSA", "r=s=0 (psychic signature)", "r=s=n", "high-s malleated"])
def test_d40_es256_signature_encodings_other_than_raw_r_s_fail(target, case):
    who = trader(target)
    p256 = P256Key()
    key_id = cli(target, "keys", "create", "--account", who.account_id, "--type", "es256", "--public-key",
                 b64u(p256.public_raw()), "--scopes", "read")["key_id"]
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

    async def scenario():
        client = await connect(target)
        params = client.auth_params(key_id, p256)
        raw = base64.urlsafe_b64decode(params["signature"] + "==")
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        if case == "DER-encoded ECDSA":
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
            params["signature"] = b64u(encode_dss_signature(r, s))
        elif case == "r=s=0 (psychic signature)":
            params["signature"] = b64u(bytes(64))
        elif case == "r=s=n":
            params["signature"] = b64u(n.to_bytes(32, "big") * 2)
        else:
            params["signature"] = b64u(r.to_bytes(32, "big") + (n - s).to_bytes(32, "big"))
        reply = await client.call("public/auth", params)
        # high-s is still a valid ECDSA signature mathematically; the nonce is single-use, so the
        # only acceptable outcomes are a refusal or (for high-s) a login: never an error or a crash.
        if case == "high-s malleated":
            assert "result" in reply or reply["error"]["message"] == "auth_failed", reply
        else:
            assert reply["error"]["message"] == "auth_failed", reply
        await client.close()
    run(scenario())


def test_d40_an_ed25519_signature_for_an_es256_key_fails(target):
    who = trader(target)
    p256 = P256Key()
    key_id = cli(target, "keys", "create", "--account", who.account_id, "--type", "es256", "--public-key",
                 b64u(p256.public_raw()), "--scopes", "read")["key_id"]

    async def scenario():
        client = await connect(target)
        reply = await client.call("public/auth", client.auth_params(key_id, Ed25519Key()))
        assert reply["error"]["message"] == "auth_failed", reply
        await client.close()
    run(scenario())


def test_signing_string_fields_cannot_be_shifted_across_lines(target):
    """A key id or nonce containing a newline cannot move text between lines of the signed string."""
    who = trader(target)

    async def scenario():
        client = await connect(target)
        nonce = b64u(os.urandom(16)) + "\n" + "read trade"
        reply = await client.call("public/auth", client.auth_params(who.key_id, who.key, nonce=nonce))
        assert reply["error"]["message"] in ("invalid_params", "auth_failed"), reply
        await client.close()
    run(scenario())
