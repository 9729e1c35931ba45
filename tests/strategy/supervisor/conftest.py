"""Small supervisor parameters so that synthetic sequences of a few dozen candles warm every agent up."""

from __future__ import annotations

from typing import Any

import pytest

from laptop_agents.core.events import Event
from laptop_agents.strategy.supervisor import Supervisor, SupervisorParams
from laptop_agents.strategy.supervisor.flows import FundingSource

SMALL: dict[str, Any] = {
    "ema_fast": 3,
    "ema_slow": 5,
    "atr_period": 3,
    "swing_lookback": 5,
    "sweep_lookback_bars": 5,
    "cvd_lookback": 5,
    "vwap_bars": 5,
    "sweep_vol_avg_bars": 5,
    "blocked_regimes": [],
    "low_vol_atr_pct": 0.0001,
    "high_vol_atr_pct": 50.0,
    "cooldown_bars": 0,
    "funding_refresh_bars": 1,
}


def small(**overrides: Any) -> SupervisorParams:
    return SupervisorParams.model_validate({**SMALL, **overrides})


def build(events: list[Event] | None = None, *, funding: FundingSource | None = None, **overrides: Any) -> Supervisor:
    sink = events.append if events is not None else (lambda _e: None)
    return Supervisor(small(**overrides), emit=sink, symbol="X", funding=funding)


@pytest.fixture
def events() -> list[Event]:
    return []
