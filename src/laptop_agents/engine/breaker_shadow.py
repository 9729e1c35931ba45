"""What the circuit breaker prevented: the entries it refused, taken on paper where nothing can see them.

A tripped breaker refuses entries, and "23 entries refused" does not tell a trader whether the breaker
saved money or cost it. From each trip the shadow trades a paper account of its own that starts at the
real account's cash at that moment: every refused entry is taken as the core would have taken it (same
fill price, same stop and target, sized from the paper account, so losses shrink later sizes as they
would have), one position at a time, and closed by the paper rules: stop, target, trailing stop (no
funding). When the breaker re-arms, the episode ends (an open paper position still runs to its exit).
Nothing it does reaches the account, the breaker, the strategy or the event log; its tally goes to the
report.

What it cannot know: exits the strategy would have asked for (it never learns of the paper position),
later entries the strategy would not have signalled while in it, and how those trades would have moved
the breaker. So it is a counterfactual of the refused entries' own brackets, and says so where it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from laptop_agents.config.models import BrokerConfig
from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, PositionClosed
from laptop_agents.core.orders import EntryIntent
from laptop_agents.execution.account import Account
from laptop_agents.execution.paper_broker import PaperBroker


@dataclass(slots=True)
class ShadowTally:
    """The refused entries taken on paper: closed trades, and the one still open marked at the last close."""

    trades: int = 0
    wins: int = 0
    net_pnl: float = 0.0
    fees: float = 0.0
    open_pnl: float = 0.0
    """The shadow position still open at the last close, its unrealized PnL (0 when flat)."""
    open_positions: int = 0
    overlapped: int = 0
    """Refused entries not taken because a shadow position (or resting entry) was already there."""
    lowest: float | None = None
    """The paper account's lowest cash over all episodes (None before any paper trade closed)."""

    def add(self, other: ShadowTally) -> None:
        self.trades += other.trades
        self.wins += other.wins
        self.net_pnl += other.net_pnl
        self.fees += other.fees
        self.open_pnl += other.open_pnl
        self.open_positions += other.open_positions
        self.overlapped += other.overlapped
        if other.lowest is not None:
            self.lowest = other.lowest if self.lowest is None else min(self.lowest, other.lowest)

    def as_dict(self) -> dict[str, Any]:
        return {
            "trades": self.trades,
            "wins": self.wins,
            "net_pnl": self.net_pnl,
            "fees": self.fees,
            "open_pnl": self.open_pnl,
            "open_positions": self.open_positions,
            "overlapped": self.overlapped,
            "lowest": self.lowest,
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> ShadowTally:
        return cls(
            trades=int(saved["trades"]),
            wins=int(saved["wins"]),
            net_pnl=float(saved["net_pnl"]),
            fees=float(saved["fees"]),
            overlapped=int(saved.get("overlapped", 0)),
            lowest=None if saved.get("lowest") is None else float(saved["lowest"]),
        )

    def line(self) -> str:
        """One sentence for the console and the report (empty when the breaker refused nothing it could take)."""
        if not self.trades and not self.open_positions:
            return ""
        losses = self.trades - self.wins
        text = (
            f"taken on paper with only their own stops and targets, {self.trades:,} trade"
            f"{'' if self.trades == 1 else 's'} ({self.wins:,} won, {losses:,} lost) would have made "
            f"{self.net_pnl:+,.2f} USDT after {self.fees:,.2f} fees"
        )
        if self.open_positions:
            text += f", {self.open_positions:,} still open at {self.open_pnl:+,.2f}"
        if self.lowest is not None:
            text += f"; paper cash at worst {self.lowest:,.2f} USDT"
        return text


class BreakerShadow:
    """One symbol's shadow book (see the module docstring). `active` is read on every candle: keep it cheap."""

    __slots__ = ("_broker", "_ids", "active", "cash", "episode", "tally")

    def __init__(self, config: BrokerConfig, *, symbol: str) -> None:
        self._broker = PaperBroker(config, symbol=symbol, emit=self._on_event, account=Account(config.starting_balance))
        self._ids = 0
        self.episode = False
        """A trip is in progress: refused entries are taken on `cash`."""
        self.cash = 0.0
        """The paper account: the real cash when the episode began, plus the paper trades' net since."""
        self.active = False
        """An episode, a paper position or a resting paper entry exists: the core gives it each candle."""
        self.tally = ShadowTally()

    def _on_event(self, event: Event) -> None:
        if type(event) is PositionClosed:
            assert isinstance(event, PositionClosed)
            tally = self.tally
            tally.trades += 1
            tally.wins += event.net_pnl > 0
            tally.net_pnl += event.net_pnl
            tally.fees += event.fees
            self.cash += event.net_pnl
            tally.lowest = self.cash if tally.lowest is None else min(tally.lowest, self.cash)

    def begin(self, cash: float) -> None:
        """The breaker refused an entry: a new episode starts from the real account's `cash`, unless one is
        already running (the paper account carries on)."""
        if not self.episode:
            self.episode = True
            self.active = True
            self.cash = cash

    def take(self, candle: Candle, intent: EntryIntent, qty: float) -> None:
        """Take a refused entry, sized by the core from `cash`: at this close, or resting at its price."""
        broker = self._broker
        if broker.position is not None or broker.pending:
            self.tally.overlapped += 1
            return
        self._ids += 1
        cid = f"shadow-{self._ids}"
        if intent.resting_price is not None:
            broker.place_resting(ts=candle.ts, client_order_id=cid, qty=qty, intent=intent, ref_price=candle.close)
        else:
            broker.open_market(ts=candle.ts, client_order_id=cid, qty=qty, ref_price=candle.close, intent=intent)

    def on_candle(self, candle: Candle, *, breaker_open: bool) -> None:
        """Steps 1 and 2 of the core's candle for the paper book (exits and resting fills, then trailing);
        a re-armed breaker ends the episode."""
        broker = self._broker
        if broker.position is not None or broker.pending:
            broker.on_candle_open(candle)
            if broker.position is not None:
                broker.update_trailing(candle)
        if breaker_open:
            self.episode = False
        self.active = self.episode or broker.position is not None or bool(broker.pending)

    def snapshot(self, last: Candle | None) -> ShadowTally:
        """The tally with the open shadow position marked at `last`'s close."""
        tally = ShadowTally(**{**self.tally.as_dict(), "open_pnl": 0.0, "open_positions": 0})
        position = self._broker.position
        if position is not None and last is not None:
            tally.open_positions = 1
            tally.open_pnl = position.direction * position.qty * (last.close - position.entry_price)
        return tally

    # -- Checkpoint --------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "tally": self.tally.as_dict(),
            "broker": self._broker.state(),
            "ids": self._ids,
            "episode": self.episode,
            "cash": self.cash,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        self.tally = ShadowTally.from_dict(saved["tally"])
        self._broker.restore(saved["broker"])
        self._ids = int(saved["ids"])
        self.episode = bool(saved["episode"])
        self.cash = float(saved["cash"])
        broker = self._broker
        self.active = self.episode or broker.position is not None or bool(broker.pending)
