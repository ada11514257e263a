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

from bulwark_client import b64u, signing_string

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


SESSION_KEYS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "vectors", "session-keys.json")


def test_session_key_vectors_match_an_independent_implementation():
    """X25519, ML-KEM-768 (kyber-py), HKDF, Ed25519, HMAC and ChaCha20-Poly1305 from third parties."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from kyber_py.ml_kem import ML_KEM_768

    from sealed import KeyOffer, b64d, derive, open_frame, seal
    vectors = json.load(open(SESSION_KEYS))
    assert [v["name"] for v in vectors] == ["x25519", "x25519+mlkem768"]
    for v in vectors:
        client = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["client_x25519_private_hex"]))
        server = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["server_x25519_private_hex"]))
        raw = lambda key: key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert b64u(raw(client)) == v["client_x25519_public"] and b64u(raw(server)) == v["server_x25519_public"]
        shared = client.exchange(server.public_key())
        assert shared.hex() == v["x25519_shared_hex"]
        offer = KeyOffer(hybrid=False, x25519_private=client)
        ikm, ciphertext = shared, b""
        if "client_mlkem768_seed_hex" in v:
            ek, dk = ML_KEM_768.key_derive(bytes.fromhex(v["client_mlkem768_seed_hex"]))
            assert b64u(ek) == v["client_mlkem768_public"]
            offer.mlkem = (ek, dk)
            ciphertext = b64d(v["mlkem768_ct"])
            secret = ML_KEM_768.decaps(dk, ciphertext)
            assert secret.hex() == v["mlkem768_shared_secret_hex"]
            ikm += secret
        assert offer.hash() == v["kx_hash"] and ikm.hex() == v["ikm_hex"]
        k_c2s, k_s2c = derive(ikm, b64d(v["challenge"]), v["session_id"])
        assert k_c2s.hex() == v["k_c2s_hex"] and k_s2c.hex() == v["k_s2c_hex"]
        identity = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["identity_seed_hex"]))
        assert b64u(raw(identity)) == v["identity_public"]
        transcript = "\n".join(["BULWARK-KX-1", v["challenge"], v["kx_hash"], b64u(raw(server) + ciphertext)])
        assert transcript == v["kx_transcript"]
        identity.public_key().verify(b64d(v["kx_sig"]), transcript.encode())
        # The client-side KeyOffer.finish reaches the same keys from the published answer alone.
        answer = {"x25519": v["server_x25519_public"], "sig": v["kx_sig"]}
        if ciphertext:
            answer["mlkem768_ct"] = v["mlkem768_ct"]
        assert offer.finish(answer, v["challenge"], v["session_id"], raw(identity)) == (k_c2s, k_s2c)
        for frame in v["frames"]:
            sealed = seal(k_c2s, frame["mode"], frame["seq"], frame["payload"].encode())
            assert sealed.hex() == frame["frame_hex"]
            assert open_frame(k_c2s, bytes.fromhex(frame["frame_hex"])) == (frame["mode"], frame["seq"], frame["payload"].encode())
