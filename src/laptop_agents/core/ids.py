"""Deterministic identifiers: the same run makes the same ids, so replays and restarts agree."""

from __future__ import annotations


class ClientOrderIds:
    """Client order ids `<prefix>-<n>`, n counting from 1. `next_n` is checkpointed so ids never repeat."""

    __slots__ = ("next_n", "prefix")

    def __init__(self, prefix: str, next_n: int = 1) -> None:
        if not prefix or len(prefix) > 24 or not prefix.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"client order id prefix {prefix!r}: use 1-24 letters, digits, '-' or '_'")
        self.prefix = prefix
        self.next_n = next_n

    def next(self) -> str:
        n = self.next_n
        self.next_n = n + 1
        return f"{self.prefix}-{n:06d}"
