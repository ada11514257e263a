"""Session keys and sealed frames (PROTOCOL.md §5): X25519, optionally hybrid with ML-KEM-768
(`pip install bulwark-sdk[hybrid]`), HKDF-SHA256, and frames sealed with HMAC-SHA256 or
ChaCha20-Poly1305 under strict per-direction sequence numbers."""
from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .keys import b64u, b64u_decode

MAC = 0x01
AEAD = 0x02


class SealedFrameError(Exception):
    """A frame from the server failed its tag or sequence check: the stream cannot be trusted."""


class KeyOffer:
    """The client's ephemeral shares for `kx` in `public/auth`."""

    def __init__(self, hybrid: bool = False):
        self._x25519 = X25519PrivateKey.generate()
        self.x25519_public = self._x25519.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._mlkem = None
        if hybrid:
            from kyber_py.ml_kem import ML_KEM_768
            self._mlkem = ML_KEM_768.keygen()   # (encapsulation key, decapsulation key)

    def params(self) -> dict:
        kx = {"x25519": b64u(self.x25519_public)}
        if self._mlkem:
            kx["mlkem768"] = b64u(self._mlkem[0])
        return kx

    def hash(self) -> str:
        """The signing string's last line: the login signature covers these shares."""
        return b64u(hashlib.sha256(self.x25519_public + (self._mlkem[0] if self._mlkem else b"")).digest())

    def finish(self, answer: dict, challenge: str, session_id: str, identity_public: bytes | None) -> tuple[bytes, bytes]:
        """Checks the gateway identity's signature over the exchange (when the identity is pinned)
        and derives (k_c2s, k_s2c)."""
        server_x = b64u_decode(answer["x25519"])
        ciphertext = b64u_decode(answer["mlkem768_ct"]) if "mlkem768_ct" in answer else b""
        if bool(ciphertext) != bool(self._mlkem):
            raise SealedFrameError("the gateway answered a different key agreement than offered")
        if identity_public is not None:
            transcript = "\n".join(["BULWARK-KX-1", challenge, self.hash(), b64u(server_x + ciphertext)]).encode()
            Ed25519PublicKey.from_public_bytes(identity_public).verify(b64u_decode(answer["sig"]), transcript)
        ikm = self._x25519.exchange(X25519PublicKey.from_public_bytes(server_x))
        if self._mlkem:
            from kyber_py.ml_kem import ML_KEM_768
            ikm += ML_KEM_768.decaps(self._mlkem[1], ciphertext)
        okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=b64u_decode(challenge),
                   info=b"bulwark/1 session " + session_id.encode()).derive(ikm)
        return okm[:32], okm[32:]


def _nonce(seq: int) -> bytes:
    return b"\0\0\0\0" + struct.pack(">Q", seq)


class SealedChannel:
    """The client's side: seals requests with k_c2s, opens responses with k_s2c, sequences from 1."""

    def __init__(self, keys: tuple[bytes, bytes], mode: int = AEAD):
        self._send_key, self._receive_key = keys
        self.mode = mode
        self.next_send = 1
        self.next_receive = 1

    def seal(self, payload: bytes, mode: int | None = None) -> bytes:
        mode = mode or self.mode
        header = bytes([mode]) + struct.pack(">Q", self.next_send)
        if mode == MAC:
            frame = header + hmac.new(self._send_key, header + payload, hashlib.sha256).digest() + payload
        else:
            frame = header + ChaCha20Poly1305(self._send_key).encrypt(_nonce(self.next_send), payload, header)
        self.next_send += 1
        return frame

    def open(self, frame: bytes) -> bytes:
        if len(frame) < 9 or frame[0] not in (MAC, AEAD):
            raise SealedFrameError("malformed sealed frame")
        header, seq = frame[:9], struct.unpack(">Q", frame[1:9])[0]
        try:
            if frame[0] == MAC:
                tag, payload = frame[9:41], frame[41:]
                if not hmac.compare_digest(tag, hmac.new(self._receive_key, header + payload, hashlib.sha256).digest()):
                    raise SealedFrameError("tag mismatch")
            else:
                payload = ChaCha20Poly1305(self._receive_key).decrypt(_nonce(seq), frame[9:], header)
        except SealedFrameError:
            raise
        except Exception as error:
            raise SealedFrameError("tag mismatch") from error
        if seq != self.next_receive:
            raise SealedFrameError(f"sequence {seq}, expected {self.next_receive}")
        self.next_receive += 1
        return payload
