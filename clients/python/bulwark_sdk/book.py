"""Order books rebuilt from `book.<instrument>`: a snapshot, then deltas whose `prev_seq` must be
the last `seq` seen (PROTOCOL.md §7). A mismatch is a gap: the book is stale until a new snapshot."""
from __future__ import annotations

from decimal import Decimal


class OrderBook:
    def __init__(self, instrument: str):
        self.instrument = instrument
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.seq: int | None = None
        self.synced = False

    def apply(self, data: dict, seq: int, prev_seq: int | None) -> bool:
        """Applies one message; returns False on a gap (the caller asks for a fresh snapshot)."""
        if data.get("type") == "snapshot":
            self.bids = {Decimal(p): Decimal(q) for p, q in data.get("bids", [])}
            self.asks = {Decimal(p): Decimal(q) for p, q in data.get("asks", [])}
            self.seq, self.synced = seq, True
            return True
        if not self.synced:
            return True   # deltas before the first snapshot are ignored (the snapshot follows)
        if prev_seq != self.seq:
            self.synced = False
            return False
        for side, levels in ((self.bids, data.get("bids", [])), (self.asks, data.get("asks", []))):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = Decimal(qty)
        self.seq = seq
        return True

    def best_bid(self) -> tuple[Decimal, Decimal] | None:
        return max(self.bids.items()) if self.bids else None

    def best_ask(self) -> tuple[Decimal, Decimal] | None:
        return min(self.asks.items()) if self.asks else None

    def levels(self, side: str, depth: int = 5) -> list[tuple[Decimal, Decimal]]:
        book = self.bids if side == "buy" else self.asks
        return sorted(book.items(), reverse=side == "buy")[:depth]
