"""Design invariant 4, over random candle paths: the books balance after every event and every candle."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Fill, PositionClosed
from tests.helpers import MINUTE, T0, make_core, settings


@st.composite
def candle_paths(draw: st.DrawFn) -> list[Candle]:
    n = draw(st.integers(min_value=5, max_value=160))
    moves = draw(st.lists(st.floats(min_value=-0.03, max_value=0.03), min_size=n, max_size=n))
    wicks = draw(st.lists(st.tuples(st.floats(0, 0.02), st.floats(0, 0.02)), min_size=n, max_size=n))
    hour_steps = draw(st.booleans())  # hourly candles cross funding times
    step = 3_600_000 if hour_steps else MINUTE
    out, price = [], draw(st.floats(min_value=1.0, max_value=100_000.0))
    for i, (move, (up, down)) in enumerate(zip(moves, wicks, strict=True)):
        close = price * (1 + move)
        out.append(
            Candle(T0 + i * step, price, max(price, close) * (1 + up), min(price, close) * (1 - down), close, 1.0)
        )
        price = close
    return out


@hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=candle_paths(),
    trail=st.booleans(),
    funding=st.sampled_from([0.0, 0.0003, -0.0002]),
    risk=st.sampled_from([0.5, 1.0, 5.0]),
)
def test_equity_identity_holds_at_every_event_and_candle(
    path: list[Candle], trail: bool, funding: float, risk: float
) -> None:
    s = settings(
        "strategy.fast_sma=2",
        "strategy.slow_sma=4",
        "strategy.atr_period=2",
        "strategy.min_atr_pct=0",
        f"strategy.trail_enabled={str(trail).lower()}",
        "strategy.trail_activation_r=0.3",
        f"broker.funding_rate={funding}",
        f"risk.risk_pct={risk}",
        "circuit_breaker.enabled=false",
        "risk.lot_step=0.000001",
        "risk.min_notional=0",
    )
    core, rec, marks = make_core(s)  # the recorder checks cash = start + realized − fees − funding per event
    broker = core.broker
    for candle in path:
        core.on_candle(candle)
        position = broker.position
        unrealized = 0.0 if position is None else position.unrealized(candle.close)
        expected = 10_000 + broker.realized_pnl - broker.fees_paid - broker.funding_paid + unrealized
        assert marks[-1][1] == pytest.approx(expected, rel=1e-9, abs=1e-6)
        assert position is None or position.qty > 0
    core.finish()
    closed = rec.of(PositionClosed)
    fills = rec.of(Fill)
    assert len(fills) == 2 * len(closed)  # every open is matched by one close: position = Σ fills
    assert len({f.fill_id for f in fills}) == len(fills)  # no fill applied twice
    net = sum(t.net_pnl for t in closed)
    assert broker.cash == pytest.approx(10_000 + net - broker.funding_paid, rel=1e-9, abs=1e-6)
    assert sum(t.funding for t in closed) == pytest.approx(broker.funding_paid, abs=1e-9)
