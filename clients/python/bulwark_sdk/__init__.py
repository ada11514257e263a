"""asyncio client for the Bulwark trading gateway (PROTOCOL.md)."""
from .book import OrderBook
from .client import BulwarkClient, BulwarkError, SessionEnded, new_client_order_id
from .keys import Ed25519Signer, HMACSigner, MLDSA65Signer, P256Signer, signing_string
from .sealing import AEAD, MAC, KeyOffer, SealedChannel, SealedFrameError

__all__ = [
    "AEAD", "MAC", "BulwarkClient", "BulwarkError", "Ed25519Signer", "HMACSigner", "KeyOffer", "MLDSA65Signer", "OrderBook",
    "P256Signer", "SealedChannel", "SealedFrameError", "SessionEnded", "new_client_order_id", "signing_string",
]
