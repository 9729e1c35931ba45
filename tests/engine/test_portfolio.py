"""Several symbols on one account: shared cash, one leverage budget, one circuit breaker, exact restarts."""

from __future__ import annotations

import orjson
import pytest

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import CircuitBreakerTripped, Event, OrderRejected, PositionClosed
from laptop_agents.core.orders import EntryIntent
from laptop_agents.engine.assembly import build_portfolio
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.engine.snapshot import portfolio_snapshot, restore_portfolio
from laptop_agents.reporting.account_bars import AccountBars
from tests.exchange.conftest import bundled_candles
from tests.helpers import ScriptedStrategy, candle, settings

A, B = "AAAUSDT", "BBBUSDT"
FLAT = (
    "run.mode=live-paper",
    f"data.symbols={A},{B}",
    "broker.half_spread_bps=0",
    "broker.slippage_bps=0",
    "broker.taker_fee_bps=0",
    "broker.maker_fee_bps=0",
    "risk.max_leverage=2",
    "risk.lot_step=1",
)


def long(stop: float) -> EntryIntent:
    return EntryIntent(side="long", stop_distance=stop, target_r=5.0, setup="t", reason="scripted")


def portfolio(*extra: str, scripts: dict[str, dict[int, list[EntryIntent]]]) -> tuple[Portfolio, list[Event]]:
    events: list[Event] = []

    def emit(event: Event) -> None:
        events.append(event)

    p = build_portfolio(settings(*FLAT, *extra), emit=emit)
    for symbol, script in scripts.items():
        p.cores[symbol].strategy = ScriptedStrategy(script)  # type: ignore[assignment]
    return p, events


def step(p: Portfolio, i: int, o: float, h: float, low: float, c: float) -> None:
    """The same candle for every symbol, symbol by symbol, as the runner's core tasks would."""
    for core in p:
        core.on_candle(candle(i, o, h, low, c))


def test_the_second_symbol_is_sized_within_what_the_first_left_of_the_leverage_budget() -> None:
    # qty = 10,000 × 1 % / 0.5 = 200 → notional 20,000 = equity × max_leverage: the whole budget
    p, events = portfolio(scripts={A: {0: [long(0.5)]}, B: {0: [long(0.5)]}})
    step(p, 0, 100, 100.5, 99.8, 100)
    assert p.cores[A].broker.position is not None and p.cores[A].broker.position.qty == 200
    assert p.cores[B].broker.position is None
    rejected = [e for e in events if isinstance(e, OrderRejected)]
    assert [(e.symbol, e.reason) for e in rejected] == [(B, "max_leverage")]
    assert "20000.00 notional" in rejected[0].detail


def test_both_symbols_fit_when_the_budget_allows_and_share_one_cash_balance() -> None:
    # qty = 100 each (notional 10,000 each, 20,000 together = the budget); both stopped at 99: −100 each
    p, events = portfolio(scripts={A: {0: [long(1.0)]}, B: {0: [long(1.0)]}})
    step(p, 0, 100, 100.5, 99.8, 100)
    assert [p.cores[s].broker.position.qty for s in (A, B)] == [100, 100]  # type: ignore[union-attr]
    assert p.equity() == 10_000
    step(p, 1, 100, 100.2, 98, 98.5)
    closed = [e for e in events if isinstance(e, PositionClosed)]
    assert [(e.symbol, e.exit_reason, e.net_pnl) for e in closed] == [(A, "stop", -100.0), (B, "stop", -100.0)]
    assert p.account.cash == p.cores[A].broker.cash == p.cores[B].broker.cash == 9_800
    p.check_invariants()


def test_losses_in_different_symbols_trip_one_breaker_that_blocks_both() -> None:
    p, events = portfolio(
        "circuit_breaker.max_consecutive_losses=2",
        scripts={A: {0: [long(1.0)], 2: [long(1.0)]}, B: {0: [long(1.0)], 2: [long(1.0)]}},
    )
    step(p, 0, 100, 100.5, 99.8, 100)
    step(p, 1, 100, 100.2, 98, 98.5)  # one loss in each symbol: two in a row for the account
    assert p.breaker.tripped
    step(p, 2, 98.5, 99, 98, 98.7)
    rejected = [(e.symbol, e.reason) for e in events if isinstance(e, OrderRejected)]
    assert rejected == [(A, "circuit_breaker"), (B, "circuit_breaker")]


def test_drawdown_is_judged_on_the_account_not_per_symbol() -> None:
    # qty = 10,000 × 1 % / 10 = 10 each; a stop at 90 loses 100 = 1 % each: alone neither reaches 1.5 %
    p, events = portfolio("circuit_breaker.max_drawdown_pct=1.5", scripts={A: {0: [long(10.0)]}, B: {0: [long(10.0)]}})
    step(p, 0, 100, 100.5, 99.8, 100)
    p.cores[A].on_candle(candle(1, 100, 100, 85, 88))  # A stopped: −1 %
    assert not p.breaker.tripped
    p.cores[B].on_candle(candle(1, 100, 100, 85, 88))  # B stopped too: the account is down 2 %
    trips = [e for e in events if isinstance(e, CircuitBreakerTripped)]
    assert [(e.reason, e.symbol) for e in trips] == [("max_drawdown", f"{A},{B}")]
    assert p.account.cash == 9_800
    p.check_invariants()


def _two_series(n: int) -> dict[str, list[Candle]]:
    real = bundled_candles()
    other = [
        Candle(real[i].ts, c.open * 0.07, c.high * 0.07, c.low * 0.07, c.close * 0.07, c.volume * 9)
        for i, c in enumerate(real[20_000 : 20_000 + n])
    ]
    return {"BTCUSDT": real[:n], "ETHUSDT": other}


def _run(p: Portfolio, series: dict[str, list[Candle]], start: int, stop: int) -> None:
    for i in range(start, stop):
        for symbol, candles in series.items():
            p.cores[symbol].on_candle(candles[i])


def test_a_portfolio_restored_from_its_snapshot_continues_exactly() -> None:
    s = settings("run.mode=live-paper", "data.symbols=BTCUSDT,ETHUSDT", "circuit_breaker.enabled=false")
    series = _two_series(3_000)
    whole_events: list[Event] = []
    whole = build_portfolio(s, emit=whole_events.append)
    _run(whole, series, 0, 3_000)
    first_events: list[Event] = []
    first = build_portfolio(s, emit=first_events.append)
    _run(first, series, 0, 1_700)
    saved = orjson.loads(orjson.dumps(portfolio_snapshot(first)))  # through JSON, as on disk
    second_events: list[Event] = []
    second = build_portfolio(s, emit=second_events.append)
    restore_portfolio(second, saved)
    _run(second, series, 1_700, 3_000)
    assert first_events + second_events == whole_events
    assert portfolio_snapshot(second) == portfolio_snapshot(whole)
    trades = [e for e in whole_events if isinstance(e, PositionClosed)]
    assert {e.symbol for e in trades} == {"BTCUSDT", "ETHUSDT"}
    assert whole.account.cash == pytest.approx(s.broker.starting_balance + sum(e.net_pnl for e in trades), rel=1e-12)
    whole.check_invariants()


def test_bars_are_written_once_every_symbol_marked_them_and_never_go_backwards() -> None:
    rows: list[tuple[int, float, bool]] = []
    bars = AccountBars((A, B), lambda c, eq, pos: rows.append((c.ts, eq, pos)))
    a, b = bars.sink(A), bars.sink(B)
    a(candle(0, 1, 1, 1, 1), 100.0, False)
    assert rows == []  # B has not marked bar 0 yet
    b(candle(0, 1, 1, 1, 1), 101.0, True)
    a(candle(1, 1, 1, 1, 1), 102.0, False)
    a(candle(2, 1, 1, 1, 1), 103.0, False)  # B's bar-1 candle is late: bar 1 goes with A's mark alone
    b(candle(1, 1, 1, 1, 1), 104.0, False)  # the late candle moves the account, adds no row
    b(candle(2, 1, 1, 1, 1), 105.0, True)
    bars.flush()
    assert rows == [(candle(0, 1, 1, 1, 1).ts, 101.0, True), (candle(1, 1, 1, 1, 1).ts, 102.0, False),
                    (candle(2, 1, 1, 1, 1).ts, 105.0, True)]  # fmt: skip
