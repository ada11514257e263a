"""Session keys and sealed frames (PROTOCOL.md §5), implemented from the contract with `cryptography`
(X25519, HKDF, HMAC, ChaCha20-Poly1305, Ed25519) and `kyber-py` (ML-KEM-768, FIPS 203): no code is
shared with the gateway.
"""
import hashlib
import hmac
import json
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from kyber_py.ml_kem import ML_KEM_768

from bulwark_client import b64u

MAC, AEAD = 0x01, 0x02


def b64d(text):
    import base64
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyOffer:
    """The client's ephemeral shares for `kx`."""

    def __init__(self, hybrid=True, x25519_private=None):
        self.x25519 = x25519_private or X25519PrivateKey.generate()
        self.x25519_public = self.x25519.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.mlkem = ML_KEM_768.keygen() if hybrid else None   # (encapsulation key, decapsulation key)

    def params(self):
        kx = {"x25519": b64u(self.x25519_public)}
        if self.mlkem:
            kx["mlkem768"] = b64u(self.mlkem[0])
        return kx

    def hash(self):
        return b64u(hashlib.sha256(self.x25519_public + (self.mlkem[0] if self.mlkem else b"")).digest())

    def finish(self, answer, challenge, session_id, identity_public):
        """Checks the gateway's signature over the exchange and derives (k_c2s, k_s2c)."""
        server_x = b64d(answer["x25519"])
        ciphertext = b64d(answer["mlkem768_ct"]) if "mlkem768_ct" in answer else b""
        assert bool(ciphertext) == bool(self.mlkem), "hybrid offer must get a ciphertext back"
        transcript = "\n".join(["BULWARK-KX-1", challenge, self.hash(), b64u(server_x + ciphertext)]).encode()
        Ed25519PublicKey.from_public_bytes(identity_public).verify(b64d(answer["sig"]), transcript)  # raises if forged
        ikm = self.x25519.exchange(X25519PublicKey.from_public_bytes(server_x))
        if self.mlkem:
            ikm += ML_KEM_768.decaps(self.mlkem[1], ciphertext)
        return derive(ikm, b64d(challenge), session_id)


def derive(ikm, challenge_bytes, session_id):
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=challenge_bytes,
               info=b"bulwark/1 session " + session_id.encode()).derive(ikm)
    return okm[:32], okm[32:]


def header(mode, seq):
    return bytes([mode]) + struct.pack(">Q", seq)


def seal(key, mode, seq, payload):
    head = header(mode, seq)
    if mode == MAC:
        return head + hmac.new(key, head + payload, hashlib.sha256).digest() + payload
    return head + ChaCha20Poly1305(key).encrypt(b"\0\0\0\0" + struct.pack(">Q", seq), payload, head)


def open_frame(key, frame):
    """Returns (mode, seq, payload) or raises."""
    mode, seq = frame[0], struct.unpack(">Q", frame[1:9])[0]
    head = frame[:9]
    if mode == MAC:
        tag, payload = frame[9:41], frame[41:]
        assert hmac.compare_digest(tag, hmac.new(key, head + payload, hashlib.sha256).digest()), "bad tag"
        return mode, seq, payload
    assert mode == AEAD, f"unknown mode {mode}"
    return mode, seq, ChaCha20Poly1305(key).decrypt(b"\0\0\0\0" + struct.pack(">Q", seq), frame[9:], head)


class SealedSession:
    """Sequence-tracking sealed-frame endpoint on top of a bulwark_client.Client."""

    def __init__(self, client, keys, mode=AEAD):
        self.client = client
        self.k_c2s, self.k_s2c = keys
        self.mode = mode
        self.send_seq = 1
        self.recv_seq = 1

    def frame(self, message, mode=None, seq=None, key=None):
        payload = json.dumps(message).encode()
        frame = seal(key or self.k_c2s, mode or self.mode, self.send_seq if seq is None else seq, payload)
        if seq is None:
            self.send_seq += 1
        return frame

    async def call(self, method, params=None, mode=None, timeout=10):
        self.client.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.client.next_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.client.ws.send(self.frame(message, mode))
        return await self.recv_reply(self.client.next_id, timeout)

    async def recv_reply(self, request_id, timeout=10):
        import asyncio
        while True:
            raw = await asyncio.wait_for(self.client.ws.recv(), timeout)
            if isinstance(raw, str):
                message = json.loads(raw)
                if message.get("id", "absent") in (request_id, None):
                    return message
                self.client.notifications.append(message)
                continue
            mode, seq, payload = open_frame(self.k_s2c, raw)
            assert seq == self.recv_seq, f"server seq {seq}, expected {self.recv_seq}"
            self.recv_seq += 1
            reply = json.loads(payload)
            reply["_sealed_mode"] = mode
            return reply
