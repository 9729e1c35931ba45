"""Alerts: the moments a trader wants on their phone, once each, from the session's events.

`AlertRules` turns events (and the passing of time: an order UNKNOWN too long, a reconnect storm, the UTC
day's end) into `Alert`s. `Pager` decides which of them go out: a condition that already paged stays
quiet for `alerts.window_s`; its recovery (breaker reset, data fresh again, backfill done, a hole in the
venue's history left behind, kill switch lifted) closes it, with a "recovered" message when it had paged;
at most `alerts.max_per_hour` messages go out an hour (failures and recoveries always go), the rest are
counted. Delivery is `delivery.py`'s, off the event loop.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from laptop_agents.config.models import AlertsConfig
from laptop_agents.core.candle import utc_minute
from laptop_agents.core.events import (
    CircuitBreakerReset,
    CircuitBreakerTripped,
    DataStale,
    Error,
    Event,
    Fill,
    GapBackfilled,
    GapUnfilled,
    KillSwitch,
    KillSwitchReleased,
    OrderState,
    PositionClosed,
    Reconnected,
    RunFinished,
    RunResumed,
    RunStarted,
)
from laptop_agents.core.inputs import HaltChanged
from laptop_agents.daemon.market_data_task import HALT_HOLE

Level = Literal["info", "success", "warning", "failure"]
OPERATOR_ERRORS: dict[str, tuple[str, Level]] = {
    "rate_limit": ("banned by the exchange (HTTP 418): entries halted", "failure"),
    "journal": ("the order journal cannot be written: no order is sent", "failure"),
    "checkpoint": ("the checkpoint cannot be written: entries halted", "failure"),
    "heartbeat": ("heartbeat.json cannot be written: the watchdog sees the daemon as stale", "failure"),
    "overfill": ("the exchange filled an order past its size", "warning"),
    "signing": ("signed requests refused: entries halted", "failure"),
}
"""Non-fatal `Error`s that need the operator (the session runs on, halted or wrong): paged once per window.
Of the rate-limit ones only a ban (418); the others wait themselves out."""


@dataclass(frozen=True, slots=True)
class Alert:
    key: str
    """The condition: the same key pages once per window; `recovered` closes it."""
    title: str
    body: str
    level: Level = "warning"
    recovered: bool = False
    always: bool = False
    """Sent whatever the window (a fill, a session start or end, the daily summary)."""


class Pager:
    """Deduplicates and rate-limits alerts; `send` gets those that go out."""

    def __init__(self, config: AlertsConfig, send: Callable[[Alert], None], *, monotonic: Callable[[], float]) -> None:
        self._config = config
        self._send = send
        self._now = monotonic
        self.open: dict[str, float] = {}
        """Conditions that paged and have not recovered: when they last paged."""
        self._sent: deque[float] = deque()
        self.suppressed = 0
        self.deduplicated = 0

    def __call__(self, alert: Alert) -> None:
        now = self._now()
        if alert.recovered:
            if alert.key not in self.open:
                return  # it never paged: nothing to close
        elif not alert.always:
            last = self.open.get(alert.key)
            if last is not None and now - last < self._config.window_s:
                self.deduplicated += 1
                return
        while self._sent and now - self._sent[0] >= 3600:
            self._sent.popleft()
        urgent = alert.recovered or alert.level == "failure"
        if not urgent and len(self._sent) >= self._config.max_per_hour:
            self.suppressed += 1  # never paged, so never "recovered" either
            return
        self._sent.append(now)
        if alert.recovered:
            del self.open[alert.key]
        elif alert.level in ("warning", "failure"):
            self.open[alert.key] = now  # a condition: its recovery will close it
        self._send(alert)


class AlertRules:
    """Events in, alerts out (to `page`). `tick` runs the timed rules; `equity` reads the account."""

    def __init__(
        self,
        config: AlertsConfig,
        page: Callable[[Alert], None],
        *,
        run_id: str,
        equity: Callable[[], float],
        monotonic: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._config = config
        self._page = page
        self._run = run_id
        self._equity = equity
        self._now = monotonic
        self._wall = wall_ms
        self._reconnects: deque[float] = deque()
        self._storm = False
        self._unknown: dict[str, tuple[str, float]] = {}
        """Orders UNKNOWN now: their symbol, and since when (monotonic)."""
        self._day = self._utc_day()
        self._day_trades: list[float] = []
        self._day_fees = 0.0
        self._day_start_equity: float | None = None

    def on_event(self, event: Event) -> None:
        if self._day_start_equity is None:  # the day's summary counts from the first thing seen
            self._day_start_equity = self._equity()
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    @property
    def event_types(self) -> frozenset[type[Event]]:
        """What the rules read (the log calls `on_event` for those only)."""
        return frozenset(_HANDLERS)

    def tick(self) -> None:
        now = self._now()
        bound = self._config.unknown_order_after_s
        for client_id, (symbol, since) in list(self._unknown.items()):
            if now - since >= bound:
                self._page(
                    Alert(
                        f"unknown:{client_id}",
                        f"{symbol}: order {client_id} UNKNOWN for {now - since:.0f} s",
                        "the exchange has not said whether it exists; entries on the symbol wait until it is "
                        "resolved (see orders.jsonl and the dashboard's orders)",
                        "failure",
                    )
                )
        self._trim_reconnects(now)
        if self._storm and len(self._reconnects) < self._config.reconnect_storm:
            self._storm = False
            self._page(
                Alert(
                    "reconnect_storm",
                    "reconnects calmed down",
                    f"fewer reconnects than the storm's threshold in the last {self._config.window_s:g} s",
                    "success",
                    recovered=True,
                )
            )
        day = self._utc_day()
        if day != self._day:
            self._daily_summary()
            self._day = day

    # -- Rules -------------------------------------------------------------------------------------------

    def _started(self, event: RunStarted | RunResumed) -> None:
        self._day_start_equity = self._equity()
        verb = "resumed" if isinstance(event, RunResumed) else "started"
        self._page(
            Alert(
                "session",
                f"session {verb}: {self._run}",
                f"{event.symbol}: equity {self._equity():,.2f}",
                "info",
                always=True,
            )
        )

    def _finished(self, event: RunFinished) -> None:
        failed = event.status == "failed"
        body = f"{event.candles} candles, {event.trades} trades, equity {event.final_equity:,.2f}"
        self._page(
            Alert(
                "session",
                f"session {'FAILED' if failed else 'stopped'}: {self._run}",
                body + (f"; error: {event.error}" if event.error else ""),
                "failure" if failed else "info",
                always=True,
            )
        )

    def _error(self, event: Error) -> None:
        page = OPERATOR_ERRORS.get(event.where)
        if page is not None and not event.fatal and (event.where != "rate_limit" or "418" in event.message):
            title, level = page
            self._page(Alert(f"{event.where}:{event.symbol}", f"{event.symbol}: {title}", event.message, level))
        elif event.where == "backfill":
            self._page(
                Alert(
                    f"backfill:{event.symbol}",
                    f"{event.symbol}: a gap could not be backfilled",
                    event.message,
                    "warning",
                )
            )
        elif event.fatal:
            self._page(Alert(f"fatal:{event.where}", f"{event.symbol}: {event.where} failed", event.message, "failure"))

    def _backfilled(self, event: GapBackfilled) -> None:
        self._page(
            Alert(
                f"backfill:{event.symbol}",
                f"{event.symbol}: gap backfilled",
                f"{event.count} candles from {utc_minute(event.from_ts)}",
                "success",
                recovered=True,
            )
        )

    def _hole(self, event: GapUnfilled) -> None:
        self._page(
            Alert(
                f"hole:{event.symbol}",
                f"{event.symbol}: the exchange's history has a hole",
                f"{event.missing} candles {utc_minute(event.from_ts)} to {utc_minute(event.to_ts)} are missing even "
                f"after a backfill; entries halted until {event.halt_candles} candles past it have been seen",
                "warning",
            )
        )

    def _halt_changed(self, event: HaltChanged) -> None:
        if event.key == HALT_HOLE and event.detail is None:
            self._page(
                Alert(
                    f"hole:{event.symbol}",
                    f"{event.symbol}: past the hole in the history",
                    "enough candles past it have been seen: entries allowed again",
                    "success",
                    recovered=True,
                )
            )

    def _stale(self, event: DataStale) -> None:
        key = f"stale:{event.symbol}"
        if event.cleared:
            self._page(
                Alert(key, f"{event.symbol}: data fresh again", "entries allowed again", "success", recovered=True)
            )
        else:
            self._page(
                Alert(
                    key,
                    f"{event.symbol}: market data stale",
                    f"no candle for {event.age_ms / 1000:.0f} s "
                    f"(threshold {event.threshold_ms / 1000:.0f} s); entries halted",
                    "warning",
                )
            )

    def _tripped(self, event: CircuitBreakerTripped) -> None:
        why = (
            f"drawdown {event.drawdown_pct:.2f} % ≥ {event.max_drawdown_pct:g} %"
            if event.reason == "max_drawdown"
            else f"{event.consecutive_losses} losses in a row"
        )
        self._page(
            Alert(
                "breaker",
                f"{event.symbol}: circuit breaker TRIPPED",
                f"{why}; equity {event.equity:,.2f}; entries blocked, exits still managed",
                "failure",
            )
        )

    def _reset(self, event: CircuitBreakerReset) -> None:
        self._page(
            Alert(
                "breaker",
                f"{event.symbol}: circuit breaker reset",
                f"after {event.after_bars} candles; equity {event.equity:,.2f}",
                "success",
                recovered=True,
            )
        )

    def _kill(self, event: KillSwitch) -> None:
        what = "entries halted and positions flattened" if event.flatten else "entries halted"
        self._page(
            Alert("kill", f"kill switch: {what}", f"{self._run} (source {event.source})", "warning", always=True)
        )

    def _released(self, event: KillSwitchReleased) -> None:
        self._page(
            Alert(
                "kill",
                "kill switch lifted",
                f"{self._run}: entries allowed again (by {event.by})",
                "success",
                recovered=True,
            )
        )

    def _reconnected(self, event: Reconnected) -> None:
        now = self._now()
        self._reconnects.append(now)
        self._trim_reconnects(now)
        if len(self._reconnects) >= self._config.reconnect_storm and not self._storm:
            self._storm = True
            self._page(
                Alert(
                    "reconnect_storm",
                    "reconnect storm",
                    f"{len(self._reconnects)} reconnects in "
                    f"{self._config.window_s:g} s (last: {event.channel}, {event.reason})",
                    "warning",
                )
            )

    def _fill(self, event: Fill) -> None:
        self._day_fees += event.fee
        if self._config.fills:
            self._page(
                Alert(
                    f"fill:{event.fill_id}",
                    f"{event.symbol}: {event.side} {event.qty:g} @ {event.price:g}",
                    f"fee {event.fee:.4f} ({event.liquidity})",
                    "info",
                    always=True,
                )
            )

    def _closed(self, event: PositionClosed) -> None:
        self._day_trades.append(event.net_pnl)

    def _order_state(self, event: OrderState) -> None:
        client_id = event.client_order_id
        if event.state == "UNKNOWN":
            self._unknown.setdefault(client_id, (event.symbol, self._now()))
        elif client_id in self._unknown:
            del self._unknown[client_id]
            self._page(
                Alert(
                    f"unknown:{client_id}",
                    f"{event.symbol}: order {client_id} resolved",
                    f"now {event.state}",
                    "success",
                    recovered=True,
                )
            )

    # -- Helpers -----------------------------------------------------------------------------------------

    def _trim_reconnects(self, now: float) -> None:
        while self._reconnects and now - self._reconnects[0] > self._config.window_s:
            self._reconnects.popleft()

    def _utc_day(self) -> str:
        return datetime.fromtimestamp(self._wall() / 1000, tz=UTC).strftime("%Y-%m-%d")

    def _daily_summary(self) -> None:
        equity = self._equity()
        start = self._day_start_equity if self._day_start_equity is not None else equity
        trades = self._day_trades
        wins = sum(1 for pnl in trades if pnl > 0)
        if self._config.daily_summary:
            self._page(
                Alert(
                    f"daily:{self._day}",
                    f"daily summary {self._day} UTC: {self._run}",
                    f"equity {start:,.2f} → {equity:,.2f} ({equity - start:+,.2f}); {len(trades)} trades, "
                    f"{wins} won, net {sum(trades):+,.2f}; fees {self._day_fees:,.2f}",
                    "info",
                    always=True,
                )
            )
        self._day_trades, self._day_fees, self._day_start_equity = [], 0.0, equity


_HANDLERS: dict[type[Event], Callable[[AlertRules, Event], None]] = {
    RunStarted: AlertRules._started,  # type: ignore[dict-item]
    RunResumed: AlertRules._started,  # type: ignore[dict-item]
    RunFinished: AlertRules._finished,  # type: ignore[dict-item]
    Error: AlertRules._error,  # type: ignore[dict-item]
    GapBackfilled: AlertRules._backfilled,  # type: ignore[dict-item]
    GapUnfilled: AlertRules._hole,  # type: ignore[dict-item]
    HaltChanged: AlertRules._halt_changed,  # type: ignore[dict-item]
    DataStale: AlertRules._stale,  # type: ignore[dict-item]
    CircuitBreakerTripped: AlertRules._tripped,  # type: ignore[dict-item]
    CircuitBreakerReset: AlertRules._reset,  # type: ignore[dict-item]
    KillSwitch: AlertRules._kill,  # type: ignore[dict-item]
    KillSwitchReleased: AlertRules._released,  # type: ignore[dict-item]
    Reconnected: AlertRules._reconnected,  # type: ignore[dict-item]
    Fill: AlertRules._fill,  # type: ignore[dict-item]
    PositionClosed: AlertRules._closed,  # type: ignore[dict-item]
    OrderState: AlertRules._order_state,  # type: ignore[dict-item]
}
