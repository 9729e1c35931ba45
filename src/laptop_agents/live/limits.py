"""Hard limits on live orders, checked before anything is sent, for the whole account.

Per order: notional at most `live.max_order_notional`; per symbol: open notional at most
`live.max_position_notional`; per UTC day: no new entries once the net realized loss reaches
`live.max_daily_loss` or `live.max_daily_loss_pct` % of the day's starting equity; at most
`live.max_orders_per_minute` orders sent in any 60 s. Closing orders are never held back: they only reduce
risk. Nothing here is reset by a restart: the day's loss is rebuilt from the order journal's fills and the
exchange's own trades of the day, and the order times from the journal.

The 60 s order window runs on the monotonic clock (reliability.md rule 6): a wall clock stepped by NTP
neither empties it early (letting a burst through) nor freezes it. Orders from before a restart carry wall
times only; they are placed on this process's monotonic timeline by their age at start-up. The times are
given by the caller (the broker's `SessionTime`, read when its input arrived): a replay gives the same.
"""

from __future__ import annotations

from collections import deque

from laptop_agents.config.models import LiveConfig

DAY_MS = 86_400_000


class HardLimits:
    def __init__(self, config: LiveConfig) -> None:
        self.config = config
        self.day = -1
        self.day_pnl = 0.0
        """Net realized PnL (after fees) of today's (UTC) closed trades."""
        self._sent: deque[float] = deque()
        """Monotonic seconds at which each order of the last 60 s was sent, oldest first."""

    def record_pnl(self, at_ms: int, net_pnl: float) -> None:
        self._roll(at_ms)
        if at_ms // DAY_MS == self.day:
            self.day_pnl += net_pnl

    def record_order(self, mono_s: float) -> None:
        """An order is being sent now (`mono_s`, the monotonic clock)."""
        self._sent.append(mono_s)

    def record_past_order(self, created_ms: int, *, now_ms: int, mono_s: float) -> None:
        """An order from the journal (before a restart), placed on the monotonic timeline by its age at
        `now_ms` (wall) = `mono_s`; call in ascending `created_ms`."""
        age_s = max(0.0, (now_ms - created_ms) / 1000)
        if age_s < 60.0:
            self._sent.append(mono_s - age_s)

    def entry_refusal(
        self, *, day_ms: int, notional: float, position_notional: float, equity: float, mono_s: float
    ) -> tuple[str, str] | None:
        """(reason, detail) when an entry of `notional` may not be sent; None when it may. `day_ms` is the
        time on the exchange's clock (the candle's, the fills'): the UTC day the loss limit counts; `mono_s`
        the monotonic clock now (the orders-per-minute window)."""
        c = self.config
        if notional > c.max_order_notional:
            return (
                "max_order_notional",
                f"order notional {notional:.2f} > live.max_order_notional {c.max_order_notional:g}",
            )
        if position_notional + notional > c.max_position_notional:
            return "max_position", (
                f"position notional {position_notional + notional:.2f} would exceed "
                f"live.max_position_notional {c.max_position_notional:g}"
            )
        self._roll(day_ms)
        loss = -self.day_pnl
        if loss >= c.max_daily_loss:
            return "max_daily_loss", f"today's loss {loss:.2f} reached live.max_daily_loss {c.max_daily_loss:g}"
        day_start = equity - self.day_pnl
        if day_start > 0 and loss >= day_start * c.max_daily_loss_pct / 100:
            return "max_daily_loss_pct", (
                f"today's loss {loss:.2f} reached live.max_daily_loss_pct {c.max_daily_loss_pct:g} % of {day_start:.2f}"
            )
        recent = self._recent(mono_s)
        if recent >= c.max_orders_per_minute:
            return "orders_per_minute", f"{recent} orders in the last 60 s (live.max_orders_per_minute)"
        return None

    def _recent(self, mono_s: float) -> int:
        sent, cutoff = self._sent, mono_s - 60.0
        while sent and sent[0] <= cutoff:
            sent.popleft()
        return len(sent)

    def _roll(self, at_ms: int) -> None:
        day = at_ms // DAY_MS
        if day > self.day:
            self.day = day
            self.day_pnl = 0.0
