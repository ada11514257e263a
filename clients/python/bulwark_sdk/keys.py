"""Signers for the signature grant (PROTOCOL.md §4.1): the private key never leaves the client."""
from __future__ import annotations

import base64
import hashlib
import hmac as _hmac
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer(Protocol):
    key_type: str

    def public_raw(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class Ed25519Signer:
    key_type = "ed25519"

    def __init__(self, private_key: ed25519.Ed25519PrivateKey | None = None):
        self.private_key = private_key or ed25519.Ed25519PrivateKey.generate()

    @classmethod
    def from_pem_file(cls, path: str) -> "Ed25519Signer":
        with open(path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


class P256Signer:
    key_type = "es256"

    def __init__(self, private_key: ec.EllipticCurvePrivateKey | None = None):
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())

    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def sign(self, message: bytes) -> bytes:
        r, s = decode_dss_signature(self.private_key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")   # raw r||s, not DER


class MLDSA65Signer:
    """ML-DSA-65 (FIPS 204) with the optional `dilithium-py` package (`pip install bulwark-sdk[mldsa]`)."""
    key_type = "ml-dsa-65"

    def __init__(self, seed: bytes | None = None):
        from dilithium_py.ml_dsa import ML_DSA_65
        import os
        self._scheme = ML_DSA_65
        self.public_key, self._secret = ML_DSA_65.key_derive(seed or os.urandom(32))

    def public_raw(self) -> bytes:
        return self.public_key

    def sign(self, message: bytes) -> bytes:
        return self._scheme.sign(self._secret, message)


class HMACSigner:
    """Legacy hmac-sha256 keys (the gateway generated the secret; only when the operator enabled them)."""
    key_type = "hmac-sha256"

    def __init__(self, secret_b64u: str):
        self._secret = b64u_decode(secret_b64u)

    def public_raw(self) -> bytes:
        raise TypeError("hmac-sha256 keys have no public key")

    def sign(self, message: bytes) -> bytes:
        return _hmac.new(self._secret, message, hashlib.sha256).digest()


def signing_string(key_id: str, challenge: str, timestamp_ms: int, nonce: str, scopes, kx_hash: str = "") -> bytes:
    """The exact text the signature grant signs (PROTOCOL.md §4.1)."""
    scope_line = " ".join(sorted(scopes)) if scopes else ""
    return "\n".join(["BULWARK-AUTH-1", key_id, challenge, str(timestamp_ms), nonce, scope_line, kx_hash]).encode()
