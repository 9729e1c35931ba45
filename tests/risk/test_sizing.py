"""Sizing floors to the lot without float noise and refuses dust."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from laptop_agents.risk.sizing import PositionSizer
from tests.helpers import settings


def test_float_noise_does_not_lose_a_lot() -> None:
    """0.3 / 0.1 is 2.9999999999999996 in floats; the sizer still gives 3 lots of 0.1."""
    sizer = PositionSizer(settings("risk.lot_step=0.1", "risk.min_notional=0").risk)
    decision = sizer.size(equity=30.0, entry_price=1.0, stop_distance=1.0, size_mult=1.0)  # 30 × 1 % / 1 = 0.3
    assert decision.qty == 0.3


@given(equity=st.floats(100, 1e7), price=st.floats(1, 1e5), dist_frac=st.floats(0.0001, 0.2), mult=st.floats(0.1, 2.0))
def test_size_respects_risk_leverage_and_lot(equity: float, price: float, dist_frac: float, mult: float) -> None:
    risk = settings().risk
    d = PositionSizer(risk).size(equity=equity, entry_price=price, stop_distance=price * dist_frac, size_mult=mult)
    if d.rejected is not None:
        assert d.qty == 0.0 and d.rejected == "min_notional"
        return
    assert d.qty * price >= risk.min_notional
    assert d.qty * price <= equity * risk.max_leverage * (1 + 1e-9)
    assert d.qty * price * dist_frac <= equity * risk.risk_pct / 100 * mult * (1 + 1e-9)
    lots = d.qty / risk.lot_step
    assert abs(lots - round(lots)) <= 1e-9 * max(1.0, lots)  # whole lots, to float precision
