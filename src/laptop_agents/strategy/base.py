"""The Strategy protocol: closed candles in, order intents out. Pure and synchronous.

Every hook the core and the runtime may call is named here; nothing is discovered by probing a strategy
for optional methods. `BaseStrategy` gives each optional hook a no-op default: subclass it and override
what you need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, Side
from laptop_agents.core.orders import EntryIntent, Intent

if TYPE_CHECKING:
    from laptop_agents.risk.risk_gate import RiskGate

NO_INTENTS: tuple[Intent, ...] = ()
"""Returned on the (common) candles where a strategy has nothing to do; shared so nothing is allocated."""

HOOKS = ("on_candle", "warmup_candles", "state", "restore", "warm_up", "on_entry_taken", "on_order_event",
         "attach_risk_gate")  # fmt: skip
"""The methods a strategy object provides (`BaseStrategy` has them all)."""


class Strategy(Protocol):
    """A trading strategy.

    `on_candle` is called once per closed candle, in ascending time order, after that candle's exits have
    been processed; `position` is the side of the position still open (or None). It returns the intents
    to carry out at this candle's close, in order (a `CloseIntent` before an `EntryIntent` reverses).
    A strategy may emit its own events (such as `SignalGenerated`) through the sink it was built with.

    The hooks, in the order of a session:
    - `attach_risk_gate(gate)` once, when the core is built: the core's `RiskGate` (halts, breaker);
    - `warm_up(candle)` for each candle of the history a live session starts with: update the indicators,
      decide and emit nothing;
    - `on_entry_taken(intent, client_order_id)` when the core takes an entry intent and gives it its client
      id, before the broker sees it: every later event of that order names this id (a refusal included);
    - `on_order_event(event)` for each of this symbol's `OrderPlaced`, `OrderRejected`, `OrderCancelled`,
      `Fill`, `PositionOpened`, `PositionClosed`, right after it is logged.
    `reads_funding` says whether it is built with a `funding=` source (and a live session then polls the
    exchange's rate).
    """

    name: str
    reads_funding: ClassVar[bool]

    def on_candle(self, candle: Candle, position: Side | None) -> Sequence[Intent]: ...

    def warmup_candles(self) -> int:
        """How many candles the strategy needs before it can decide (for live warm-up)."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-able internal state for a checkpoint."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Continue exactly from `state()` (after a restart)."""
        ...

    def warm_up(self, candle: Candle) -> None: ...

    def on_entry_taken(self, intent: EntryIntent, client_order_id: str) -> None: ...

    def on_order_event(self, event: Event) -> None: ...

    def attach_risk_gate(self, gate: RiskGate) -> None: ...


class BaseStrategy:
    """The optional hooks as no-ops. A strategy that remembers what it asked for (a pending plan) must
    override `warm_up` (the default runs `on_candle` and drops the intents, so nothing it decides inside
    the history is ever carried out) and should hear its orders (`on_entry_taken`, `on_order_event`)."""

    name: str = "strategy"
    reads_funding: ClassVar[bool] = False

    def on_candle(self, candle: Candle, position: Side | None) -> Sequence[Intent]:
        raise NotImplementedError

    def warmup_candles(self) -> int:
        return 0

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None

    def warm_up(self, candle: Candle) -> None:
        self.on_candle(candle, None)

    def on_entry_taken(self, intent: EntryIntent, client_order_id: str) -> None:
        return None

    def on_order_event(self, event: Event) -> None:
        return None

    def attach_risk_gate(self, gate: RiskGate) -> None:
        return None
