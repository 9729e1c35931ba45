"""The Strategy protocol: closed candles in, order intents out. Pure and synchronous."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Side
from laptop_agents.core.orders import Intent

NO_INTENTS: tuple[Intent, ...] = ()
"""Returned on the (common) candles where a strategy has nothing to do; shared so nothing is allocated."""


class Strategy(Protocol):
    """A trading strategy.

    `on_candle` is called once per closed candle, in ascending time order, after that candle's exits have
    been processed; `position` is the side of the position still open (or None). It returns the intents
    to carry out at this candle's close, in order (a `CloseIntent` before an `EntryIntent` reverses).
    A strategy may emit its own events (such as `SignalGenerated`) through the sink it was built with.

    Optional: `warm_up(candle)` for the history a live session starts with: update the indicators,
    decide and emit nothing. Without it the runner calls `on_candle(candle, None)` and drops the
    intents, so a strategy that remembers what it asked for (a pending plan) must have `warm_up`, and
    one without should not decide inside `warmup_candles()`.
    """

    name: str

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
