"""The published signing vectors, checked with an independent implementation (Python `cryptography`)."""
import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dilithium_py.ml_dsa import ML_DSA_65

from bulwark_client import signing_string

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "vectors", "signature-grant.json")


def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_vectors_match_an_independent_implementation():
    vectors = json.load(open(VECTORS))
    assert {v["key_type"] for v in vectors} == {"ed25519", "es256", "ml-dsa-65", "hmac-sha256"}
    for v in vectors:
        text = signing_string(v["key_id"], v["challenge"], v["timestamp_ms"], v["nonce"], v["scopes"])
        assert text == v["signing_string"]
        signature = unb64u(v["signature"])
        secret = bytes.fromhex(v["private_key_hex"])
        if v["key_type"] == "ed25519":
            key = ed25519.Ed25519PrivateKey.from_private_bytes(secret)
            # Ed25519 is deterministic: Python must produce the very same bytes.
            assert key.sign(text.encode()) == signature
            key.public_key().verify(signature, text.encode())
        elif v["key_type"] == "hmac-sha256":
            assert hmac.new(secret, text.encode(), hashlib.sha256).digest() == signature
        elif v["key_type"] == "ml-dsa-65":
            # dilithium-py, a separate FIPS 204 implementation: same public key from the seed, and the
            # signature verifies.
            public, _ = ML_DSA_65.key_derive(secret)
            assert public == unb64u(v["public_key"])
            assert ML_DSA_65.verify(public, text.encode(), signature)
        else:
            key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256R1())
            point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
            assert point == unb64u(v["public_key"])
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.public_key().verify(der, text.encode(), ec.ECDSA(hashes.SHA256()))
