"""The account every symbol's broker books against: one cash balance, one equity, one leverage budget.

A run trading several symbols has one broker per symbol (each keeps its own position, fills and totals)
and one `Account`. Each broker moves `cash`; each symbol's core marks its unrealized PnL and open
notional here once per candle, so the account's equity and exposure are known at any moment without the
symbols knowing each other. Accounting identity: cash = start + Σ (realized − fees − funding) over the
registered books.
"""

from __future__ import annotations

from typing import Protocol

from laptop_agents.core.errors import InvariantError


class Books(Protocol):
    """What the account reads from each symbol's broker to check the identity."""

    symbol: str
    realized_pnl: float
    fees_paid: float
    funding_paid: float


class Account:
    __slots__ = ("_books", "cash", "exposure", "marks", "shared", "starting_balance")

    def __init__(self, starting_balance: float) -> None:
        self.starting_balance = starting_balance
        self.cash = starting_balance
        self.marks: dict[str, float] = {}
        """Unrealized PnL per symbol at its last close (only kept when `shared`)."""
        self.exposure: dict[str, float] = {}
        """Open notional per symbol at entry price (only kept when `shared`)."""
        self.shared = False
        """True once a second symbol books here; a single-symbol run skips the per-candle marks."""
        self._books: list[Books] = []

    def register(self, books: Books) -> None:
        if any(b.symbol == books.symbol for b in self._books):
            raise InvariantError(f"symbol {books.symbol} is already booked on this account")
        self._books.append(books)
        self.shared = len(self._books) > 1

    def equity(self) -> float:
        """Cash plus every symbol's unrealized PnL at its last mark."""
        return self.cash + sum(self.marks.values())

    def committed_notional(self, except_symbol: str) -> float:
        """Open notional of every other symbol: what their positions already use of the leverage budget."""
        return sum(v for s, v in self.exposure.items() if s != except_symbol)

    def check_invariants(self) -> None:
        """Raise `InvariantError` when cash is not start + Σ (realized − fees − funding)."""
        books = self._books
        expected = self.starting_balance + sum(b.realized_pnl - b.fees_paid - b.funding_paid for b in books)
        scale = max([1.0, abs(self.starting_balance)] + [abs(b.realized_pnl) + b.fees_paid for b in books])
        if abs(self.cash - expected) > 1e-9 * scale:
            raise InvariantError(f"cash {self.cash!r} != start + realized − fees − funding = {expected!r}")
