"""Prometheus metrics of a live session (`/metrics`), with prometheus-client.

Two kinds of source, so nothing is counted twice: what the runner already counts or holds (candles, gaps,
queue depths, equity, ages, the limiter) is read when scraped (`SessionCollector`); what happens only as
an event (reconnects, venue 429s, orders, fills, errors, breaker trips) is counted by a listener on the
event log (`on_event`). Decision latency (closing push → the core has decided) and event-loop lag are
measured here. Names follow Prometheus' conventions: `la_` prefix, base units (`_seconds`, `_ratio`),
`_total` for counters; money is in the quote currency (USDT). docs/DASHBOARD.md lists them.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from laptop_agents.core.events import (
    CircuitBreakerTripped,
    Error,
    Event,
    Fill,
    KillSwitch,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    OrderState,
    PositionClosed,
    RateLimited,
    Reconnected,
)

if TYPE_CHECKING:
    from laptop_agents.base.rate_limiter import RateLimiter
    from laptop_agents.daemon.runner import AsyncRunner

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_PROBE_S = 0.25
STATES = ("starting", "running", "degraded", "halted", "stopping", "stopped", "failed")


class SessionMetrics:
    """The registry of one session: a collector over the runner, event counters, latency and lag."""

    def __init__(self, runner: AsyncRunner, *, limiter: RateLimiter | None = None) -> None:
        self.runner = runner
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconnects = Counter(
            "la_reconnects", "Market-data and private sockets re-established", ["channel"], registry=r
        )
        self.rate_limited = Counter(
            "la_rate_limited", "Replies that told us to slow down (429, 10006), by scope", ["scope"], registry=r
        )
        for channel in ("public", "private"):  # present from the start: increase() sees the first reconnect
            self.reconnects.labels(channel)
        self.orders = Counter("la_orders", "Orders by outcome as the trading core saw them", ["outcome"], registry=r)
        self.exchange_orders = Counter(
            "la_exchange_orders", "live-exchange: order-state changes by new state", ["state"], registry=r
        )
        self.fills = Counter("la_fills", "Fills by symbol and liquidity", ["symbol", "liquidity"], registry=r)
        self.trades = Counter(
            "la_trades_closed", "Positions closed, by symbol and exit reason", ["symbol", "exit_reason"], registry=r
        )
        self.errors = Counter(
            "la_errors", "Error events, by where they happened and whether fatal", ["where", "fatal"], registry=r
        )
        self.breaker_trips = Counter("la_breaker_trips", "Circuit-breaker trips, by reason", ["reason"], registry=r)
        self.kill_switches = Counter("la_kill_switch_activations", "Kill switches applied", ["source"], registry=r)
        self.decision = LatencyHistogram(
            "la_decision_latency_seconds",
            "From a candle's closing push arriving to its core having decided (queue, confirmation, strategy)",
        )
        r.register(self.decision)
        self.loop_lag = Gauge(
            "la_event_loop_lag_seconds", "How late the event loop woke a 0.25 s timer, last probe", registry=r
        )
        r.register(SessionCollector(runner, limiter))
        runner.observe_decisions(self.decision.observe)

    def on_event(self, event: Event) -> None:
        count = _COUNTED.get(type(event))
        if count is not None:
            count(self, event)

    @property
    def event_types(self) -> frozenset[type[Event]]:
        """What `on_event` counts (the log calls it for those only)."""
        return frozenset(_COUNTED)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    async def probe_loop_lag(self) -> None:
        """A timer's lateness is the loop's lag: a wedged or overloaded loop shows here before anywhere."""
        while True:
            began = time.monotonic()
            await asyncio.sleep(LAG_PROBE_S)
            self.loop_lag.set(max(0.0, time.monotonic() - began - LAG_PROBE_S))


class LatencyHistogram(Collector):
    """A histogram by symbol observed once per candle on the hot path: a bisect into plain counts (a
    prometheus-client `Histogram` takes a lock and a label lookup per observation, several times the cost),
    turned into the exposition's cumulative buckets when scraped."""

    def __init__(self, name: str, doc: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.doc, self.bounds = name, doc, buckets
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, symbol: str, seconds: float) -> None:
        counts = self._counts.get(symbol)
        if counts is None:
            counts = self._counts[symbol] = [0] * (len(self.bounds) + 1)
            self._sums[symbol] = 0.0
        counts[bisect_left(self.bounds, seconds)] += 1
        self._sums[symbol] += seconds

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.doc, labels=["symbol"])
        for symbol, counts in self._counts.items():
            running, buckets = 0, []
            for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
            family.add_metric([symbol], buckets, self._sums[symbol])
        yield family


class SessionCollector(Collector):
    """Read at each scrape from the runner (its heartbeat, the pipes' counts) and the shared rate limiter."""

    def __init__(self, runner: AsyncRunner, limiter: RateLimiter | None) -> None:
        self.runner = runner
        self.limiter = limiter

    def describe(self) -> Iterator[Metric]:
        return iter(())  # unchecked: the families depend on the session's symbols

    def collect(self) -> Iterator[Metric]:
        runner = self.runner
        beat = runner.heartbeat()
        run_id, mode = str(beat.get("run_id")), str(beat.get("mode"))
        info = GaugeMetricFamily("la_session_info", "The session (always 1)", labels=["run_id", "mode", "strategy"])
        info.add_metric([run_id, mode, runner.portfolio.primary.strategy.name], 1.0)
        yield info
        state = GaugeMetricFamily("la_session_state", "1 for the session's state now", labels=["state"])
        for name in STATES:
            state.add_metric([name], 1.0 if beat.get("state") == name else 0.0)
        yield state
        yield from self._market_data(beat)
        yield from self._account(beat)
        yield from self._ages(beat)
        if self.limiter is not None:
            limiter = self.limiter
            yield _counter(
                "la_rate_limiter_acquired",
                "Requests and subscriptions the shared limiter let through",
                limiter.acquired,
            )
            yield _counter(
                "la_rate_limiter_wait_seconds", "Time spent waiting for the shared limiter", limiter.waited_s
            )
            yield _counter(
                "la_rate_limiter_penalties", "Pauses the venue imposed on the limiter (429, bans)", limiter.penalties
            )

    def _market_data(self, beat: dict[str, Any]) -> Iterator[Metric]:
        candles = CounterMetricFamily("la_candles", "Closed candles passed to the core", labels=["symbol", "source"])
        rejected = CounterMetricFamily(
            "la_candles_rejected", "Candles dropped before the core, by reason", labels=["symbol", "reason"]
        )
        gaps = CounterMetricFamily("la_gaps", "Gaps in a symbol's series detected", labels=["symbol"])
        holes = CounterMetricFamily(
            "la_data_holes", "Runs of candles the venue's history lacks (entries halted past them)", labels=["symbol"]
        )
        backfilled = CounterMetricFamily(
            "la_backfilled_candles", "Candles fetched over REST to fill gaps", labels=["symbol"]
        )
        depth = GaugeMetricFamily("la_queue_depth", "Candles waiting for the symbol's core", labels=["symbol"])
        for symbol, pipe in self.runner.pipes.items():
            md = pipe.md
            candles.add_metric([symbol, "stream"], md.candles)
            candles.add_metric([symbol, "backfill"], md.backfilled)
            rejected.add_metric([symbol, "duplicate"], md.duplicates)
            rejected.add_metric([symbol, "out_of_order"], md.out_of_order)
            rejected.add_metric([symbol, "invalid_ohlc"], md.invalid)
            gaps.add_metric([symbol], md.gaps)
            holes.add_metric([symbol], md.holes)
            backfilled.add_metric([symbol], md.backfilled)
            depth.add_metric([symbol], pipe.queue.qsize())
        yield from (candles, rejected, gaps, holes, backfilled, depth)
        stream = beat.get("stream") or {}
        frames = CounterMetricFamily(
            "la_stream_frames_rejected", "WebSocket frames skipped, by reason", labels=["reason"]
        )
        frames.add_metric(["malformed"], float(stream.get("malformed", 0)))
        frames.add_metric(["unknown"], float(stream.get("unknown", 0)))
        yield frames
        yield _counter("la_stream_connects", "Public market-data socket connections made", stream.get("connects", 0))
        yield _counter("la_task_errors", "Failed tasks, failed backfills and malformed frames", beat.get("errors", 0))

    def _account(self, beat: dict[str, Any]) -> Iterator[Metric]:
        yield _gauge("la_equity", "Account equity, marked at the last close (quote currency)", beat.get("equity"))
        breaker = beat.get("breaker_state") or {}
        yield _gauge(
            "la_drawdown_ratio",
            "Drawdown from the breaker's peak equity (0.05 = 5 %)",
            float(breaker.get("drawdown_pct", 0.0)) / 100,
        )
        yield _gauge(
            "la_breaker_tripped", "1 while the circuit breaker blocks entries", 1.0 if breaker.get("tripped") else 0.0
        )
        yield _gauge(
            "la_entries_halted",
            "1 while any halt refuses entries (kill switch, stale data, ...)",
            1.0 if beat.get("halts") else 0.0,
        )
        yield _gauge(
            "la_kill_switch", "1 while the operator's kill switch is in force", 1.0 if beat.get("kill_switch") else 0.0
        )
        notional = GaugeMetricFamily(
            "la_position_notional", "Open position at the last close (quote currency)", labels=["symbol"]
        )
        qty = GaugeMetricFamily(
            "la_position_qty", "Open position size, negative when short (base currency)", labels=["symbol"]
        )
        upnl = GaugeMetricFamily(
            "la_position_unrealized", "Open position's unrealized PnL (quote currency)", labels=["symbol"]
        )
        positions = beat.get("positions") or {}
        for symbol in self.runner.pipes:
            p = positions.get(symbol) or {}
            sign = -1.0 if p.get("side") == "short" else 1.0
            notional.add_metric([symbol], float(p.get("notional", 0.0)))
            qty.add_metric([symbol], sign * float(p.get("qty", 0.0)))
            upnl.add_metric([symbol], float(p.get("unrealized", 0.0)))
        yield from (notional, qty, upnl)
        exchange = beat.get("exchange")
        if isinstance(exchange, dict):
            yield _gauge(
                "la_open_orders", "live-exchange: orders not finished on the exchange", exchange.get("open_orders", 0)
            )
            yield _gauge(
                "la_unknown_orders",
                "live-exchange: orders whose fate is being looked up",
                len(exchange.get("unknown_orders") or []),
            )
            offset = exchange.get("clock_offset_ms")
            if offset is not None:
                yield _gauge(
                    "la_clock_offset_seconds",
                    "The exchange's clock minus ours, from its Date headers",
                    float(offset) / 1000,
                )

    def _ages(self, beat: dict[str, Any]) -> Iterator[Metric]:
        ages = GaugeMetricFamily(
            "la_data_age_seconds", "Since the symbol's last candle reached its core", labels=["symbol"]
        )
        for symbol, age in (beat.get("data_age_s_by_symbol") or {}).items():
            ages.add_metric([symbol], float(age))
        yield ages
        last = self.runner.last_heartbeat_s
        if last is not None:  # none written yet (or every write failed): no figure rather than a healthy 0
            yield _gauge("la_heartbeat_age_seconds", "Since heartbeat.json was last written", time.monotonic() - last)
        yield _gauge("la_checkpoint_age_seconds", "Since state.json was last written", self.runner.checkpoint_age_s())


def _gauge(name: str, doc: str, value: Any) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value or 0.0))


def _counter(name: str, doc: str, value: Any) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=float(value or 0.0))


def _fill(m: SessionMetrics, e: Fill) -> None:
    m.fills.labels(e.symbol, e.liquidity).inc()


def _order_state(m: SessionMetrics, e: OrderState) -> None:
    m.exchange_orders.labels(e.state.lower()).inc()


def _closed(m: SessionMetrics, e: PositionClosed) -> None:
    m.trades.labels(e.symbol, e.exit_reason).inc()


def _reconnected(m: SessionMetrics, e: Reconnected) -> None:
    m.reconnects.labels(e.channel).inc()


def _rate_limited(m: SessionMetrics, e: RateLimited) -> None:
    m.rate_limited.labels(e.scope).inc()


def _error(m: SessionMetrics, e: Error) -> None:
    m.errors.labels(e.where, str(e.fatal).lower()).inc()


def _tripped(m: SessionMetrics, e: CircuitBreakerTripped) -> None:
    m.breaker_trips.labels(e.reason).inc()


def _kill(m: SessionMetrics, e: KillSwitch) -> None:
    m.kill_switches.labels(e.source).inc()


_COUNTED: dict[type[Event], Callable[[SessionMetrics, Any], None]] = {
    Fill: _fill,
    OrderPlaced: lambda m, _: m.orders.labels("placed").inc(),
    OrderRejected: lambda m, _: m.orders.labels("rejected").inc(),
    OrderCancelled: lambda m, _: m.orders.labels("cancelled").inc(),
    OrderState: _order_state,
    PositionClosed: _closed,
    Reconnected: _reconnected,
    RateLimited: _rate_limited,
    Error: _error,
    CircuitBreakerTripped: _tripped,
    KillSwitch: _kill,
}
