"""The books, rebuilt independently from the events, over random candle paths (issue 15).

The old property compared two counters the broker updates with the same code. Here a second ledger is
built from the events alone (each `Fill`'s price, quantity and fee, each `FundingApplied`, each
`PositionLiquidated`'s `covered`), and every equity row the core marks must equal it. The paths are
OHLC-valid with gaps in time, flat runs, and jumps through stops and liquidation prices; leverage up to
50x makes liquidations common. Also checked on every path: no balance below zero with isolated margin,
every liquidation at or beyond its liquidation price, no protective exit on a market entry's own candle,
and a stop gapped through fills at the open.
"""

from __future__ import annotations

from dataclasses import dataclass

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import (
    Event,
    Fill,
    FundingApplied,
    PositionClosed,
    PositionLiquidated,
    PositionOpened,
    StopMoved,
)
from tests.helpers import MINUTE, T0, make_core, settings

SLIPPAGE = 1 / 1e4


@st.composite
def candle_paths(draw: st.DrawFn) -> list[Candle]:
    n = draw(st.integers(min_value=5, max_value=160))
    kinds = draw(st.lists(st.sampled_from(["walk"] * 6 + ["flat", "jump"]), min_size=n, max_size=n))
    step = 3_600_000 if draw(st.booleans()) else MINUTE  # hourly candles cross funding times
    out, price, ts = [], draw(st.floats(min_value=1.0, max_value=100_000.0)), T0
    for kind in kinds:
        if kind == "flat":
            move, up, down = 0.0, 0.0, 0.0
        else:
            limit = 0.45 if kind == "jump" else 0.03
            move = draw(st.floats(min_value=-limit, max_value=limit))
            up, down = draw(st.floats(0, 0.02)), draw(st.floats(0, 0.02))
        opening = price * (1 + draw(st.floats(-0.2, 0.2))) if kind == "jump" else price  # a gap at the open
        close = opening * (1 + move)
        out.append(Candle(ts, opening, max(opening, close) * (1 + up), min(opening, close) * (1 - down), close, 1.0))
        price = close
        ts += step * draw(st.sampled_from([1, 1, 1, 1, 2, 5]))  # gaps in the data
    return out


@dataclass
class Ledger:
    """Cash and the open position, from the events alone."""

    cash: float
    qty: float = 0.0  # signed
    entry: float = 0.0

    def apply(self, event: Event) -> None:
        if isinstance(event, Fill):
            signed = event.qty if event.side == "buy" else -event.qty
            if self.qty == 0.0:
                self.qty, self.entry = signed, event.price
            else:
                assert signed == pytest.approx(-self.qty), "paper closes whole positions only"
                self.cash += self.qty * (event.price - self.entry)
                self.qty = 0.0
            self.cash -= event.fee
        elif isinstance(event, FundingApplied):
            self.cash -= event.amount
        elif isinstance(event, PositionLiquidated):
            self.cash += event.covered

    def equity(self, close: float) -> float:
        return self.cash + self.qty * (close - self.entry)


@hyp_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=candle_paths(),
    trail=st.booleans(),
    funding=st.sampled_from([0.0, 0.0003, -0.0002]),
    risk=st.sampled_from([1.0, 5.0, 25.0, 50.0]),
    leverage=st.sampled_from([5, 20, 50]),
    margin=st.sampled_from(["isolated", "isolated", "off"]),
)
def test_every_equity_row_equals_the_ledger_rebuilt_from_the_events(
    path: list[Candle], trail: bool, funding: float, risk: float, leverage: int, margin: str
) -> None:
    s = settings(
        "strategy.fast_sma=2",
        "strategy.slow_sma=4",
        "strategy.atr_period=2",
        "strategy.min_atr_pct=0",
        f"strategy.trail_enabled={str(trail).lower()}",
        "strategy.trail_activation_r=0.3",
        f"broker.funding_rate={funding}",
        f"broker.margin_mode={margin!r}".replace("'", '"'),
        f"risk.risk_pct={risk}",
        f"risk.max_leverage={leverage * 0.95}",
        f"exchange.leverage={leverage}",
        "circuit_breaker.enabled=false",
        "risk.lot_step=0.000001",
        "risk.min_notional=0",
    )
    core, rec, marks = make_core(s)  # the recorder also runs the broker's own invariant check per event
    ledger = Ledger(10_000.0)
    seen = 0
    by_ts: dict[int, Candle] = {}
    for candle in path:
        by_ts[candle.ts] = candle
        core.on_candle(candle)
        for event in rec.events[seen:]:
            ledger.apply(event)
        seen = len(rec.events)
        assert marks[-1][0] == candle.ts
        assert marks[-1][1] == pytest.approx(ledger.equity(candle.close), rel=1e-9, abs=1e-6)
        if margin == "isolated":
            assert ledger.cash >= -1e-6, "a balance below zero with isolated margin"
    _check_exits(rec.events, by_ts)
    liquidations = [e for e in rec.events if isinstance(e, PositionLiquidated)]
    hypothesis.event("liquidated" if liquidations else "no liquidation")
    hypothesis.event("a gap beyond the margin" if any(e.covered for e in liquidations) else "no loss beyond the margin")


def _check_exits(events: list[Event], candles: dict[int, Candle]) -> None:
    stops: dict[int, float] = {}
    liquidated: set[int] = set()
    for event in events:
        if isinstance(event, PositionOpened):
            stops[event.trade_id] = event.stop_price
        elif isinstance(event, StopMoved):
            stops[event.trade_id] = event.new_stop
        elif isinstance(event, PositionLiquidated):
            liquidated.add(event.trade_id)
            long = event.side == "long"
            assert (event.price <= event.liquidation_price) if long else (event.price >= event.liquidation_price)
        elif isinstance(event, PositionClosed):
            if event.exit_reason in ("stop", "trail", "target", "liquidation"):
                assert event.ts > event.entry_ts, "a protective exit on the market entry's own candle"
            if event.exit_reason in ("stop", "trail"):
                candle, stop, long = candles[event.ts], stops[event.trade_id], event.side == "long"
                gapped = candle.open <= stop if long else candle.open >= stop
                raw = candle.open if gapped else stop
                assert event.exit_price == pytest.approx(raw * (1 - SLIPPAGE if long else 1 + SLIPPAGE))
            assert (event.exit_reason == "liquidation") == (event.trade_id in liquidated)


def test_the_paths_do_liquidate() -> None:
    """The property above is only as good as its paths: a 50x long on a 45 % jump down is liquidated."""
    s = settings("exchange.leverage=50", "risk.max_leverage=47.5", "risk.risk_pct=50",
                 "circuit_breaker.enabled=false", "strategy.fast_sma=2", "strategy.slow_sma=4",
                 "strategy.atr_period=2", "strategy.min_atr_pct=0")  # fmt: skip
    core, rec, _ = make_core(s)
    closes = [100, 99, 98, 97, 96, 97, 99, 102, 60]
    for i, close in enumerate(closes):
        prev = closes[i - 1] if i else close
        core.on_candle(Candle(T0 + i * MINUTE, prev, max(prev, close) + 0.5, min(prev, close) - 0.5, close, 1.0))
    assert any(isinstance(e, PositionLiquidated) for e in rec.events)
