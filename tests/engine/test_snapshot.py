"""A checkpoint restores the core exactly: a run split anywhere continues as if it never stopped."""

from __future__ import annotations

import orjson
import pytest

from laptop_agents.engine.snapshot import core_snapshot, restore_core
from tests.exchange.conftest import bundled_candles
from tests.helpers import make_core, settings

SETTINGS = (
    "circuit_breaker.max_consecutive_losses=4",
    "circuit_breaker.reset_after_bars=120",
    "strategy.trail_enabled=true",
    "strategy.trail_activation_r=0.5",
    "broker.funding_rate=0.0001",
)


def run(candles: list, split: int | None) -> tuple[list, object]:  # type: ignore[type-arg]
    s = settings(*SETTINGS)
    core, rec, _ = make_core(s)
    for c in candles[: split if split is not None else len(candles)]:
        core.on_candle(c)
    if split is None:
        return rec.events, core
    snap = orjson.loads(orjson.dumps(core_snapshot(core)))  # through JSON, as on disk
    restored, rec2, _ = make_core(s)
    restore_core(restored, snap)
    for c in candles[split:]:
        restored.on_candle(c)
    return rec.events + rec2.events, restored


@pytest.mark.parametrize("split", [31, 700, 1_234, 2_500, 3_999])
def test_split_run_equals_the_uninterrupted_run(split: int) -> None:
    candles = bundled_candles()[:4_000]
    whole, core_a = run(candles, None)
    parts, core_b = run(candles, split)
    assert parts == whole
    assert core_snapshot(core_a) == core_snapshot(core_b)  # type: ignore[arg-type]


def test_a_split_inside_an_open_position_restores_it() -> None:
    candles = bundled_candles()[:4_000]
    s = settings(*SETTINGS)
    core, _, _ = make_core(s)
    split = next(i for i, c in enumerate(candles) if (core.on_candle(c) or core.broker.position is not None))
    snap = orjson.loads(orjson.dumps(core_snapshot(core)))
    assert snap["position_side"] in ("long", "short")
    restored, _, _ = make_core(s)
    restore_core(restored, snap)
    assert restored.broker.position is not None
    assert restored.broker.position.qty == core.broker.position.qty  # type: ignore[union-attr]
    assert core_snapshot(restored) == core_snapshot(core)
    assert split > 30


def test_a_checkpoint_for_another_symbol_is_refused() -> None:
    core, _, _ = make_core(settings())
    snap = core_snapshot(core)
    other, _, _ = make_core(settings("data.symbol=ETHUSDT"))
    with pytest.raises(ValueError, match="trades 'ETHUSDT'"):
        restore_core(other, snap)
