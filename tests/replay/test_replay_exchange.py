"""Issue 16: a live-exchange session replays decision for decision. The daemon runs as the user runs it
(`la run --mode live-exchange` in a subprocess) against the simulated exchange on loopback: the first
order's answer is lost, the next order's send is rate-limited, and the exchange's own stop-loss closes
positions. `la replay` then rebuilds the books from what the exchange reported (recorded as inputs) and
finds every decision again; a changed parameter diverges, named."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.replay.command import replay_run
from tests.exchange.conftest import bundled_candles, eventually, sim_config
from tests.live.test_live_daemon import journal, la, write_config

pytestmark = pytest.mark.slow

QUICK = ("--set", "strategy.fast_sma=3", "--set", "strategy.slow_sma=8")


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(sim_config(speed=600.0, start_index=300), {"BTCUSDT": bundled_candles()}) as exchange:
        exchange.faults.client_id_dedupe = "open"
        yield exchange


def _events(folder: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in (folder / "events.jsonl").read_bytes().splitlines()]


async def test_a_live_exchange_session_with_a_lost_ack_a_rate_limited_order_and_an_exchange_stop_replays_identical(
    tmp_path: Path, sim: SimExchange
) -> None:
    write_config(tmp_path, sim)
    sim.faults.update({"drop_order_response_next": 1})

    async def rate_limit_the_next_order() -> None:
        await eventually(lambda: sim.faults.counts.get("drop_order_response_next", 0) == 1, within_s=60,
                         what="the lost ack")  # fmt: skip
        sim.faults.update({"rate_limit_path": "/trade/place_order", "rate_limit_next": 1})

    folder = tmp_path / "runs" / "x"
    mid_run = tmp_path / "state.mid.json"

    async def keep_a_checkpoint_from_mid_run() -> None:
        """state.json once the exchange has filled orders (the one at the end follows the last decision)."""
        await eventually(lambda: (folder / "orders.jsonl").exists() and b'"op":"fill"' in
                         (folder / "orders.jsonl").read_bytes(), within_s=60, what="a fill")  # fmt: skip
        await asyncio.sleep(2.0)
        mid_run.write_bytes((folder / "state.json").read_bytes())

    faults = asyncio.create_task(rate_limit_the_next_order())
    checkpoint = asyncio.create_task(keep_a_checkpoint_from_mid_run())
    # a tight stop: the exchange's stop-loss closes positions within the session
    code, _out, err = await la(
        tmp_path, "--run-id", "x", "--duration", "20", *QUICK, "--set", "strategy.stop_atr_mult=0.5"
    )
    await faults
    await checkpoint
    assert code == 0, err
    assert sim.faults.counts.get("rate_limit_next") == 1  # an order's send was answered 10006
    events = _events(folder)
    states = [e for e in events if e["event"] == "OrderState"]
    assert any(e["state"] == "UNKNOWN" for e in states)  # the lost ack: looked up by client id
    records = journal(folder)
    assert any(r["op"] == "trade" for r in records)  # an execution of the exchange's own TP/SL
    assert any(e["event"] == "BooksChanged" and e["record"]["op"] == "trade" for e in events)  # type: ignore[index]
    decisions = {e["event"] for e in events} & {"OrderPlaced", "Fill", "PositionOpened", "PositionClosed"}
    assert decisions == {"OrderPlaced", "Fill", "PositionOpened", "PositionClosed"}

    result = replay_run(folder)
    assert result.identical, result.divergence
    assert result.decisions > 20

    (folder / "state.json").write_bytes(mid_run.read_bytes())
    from_checkpoint = replay_run(folder, from_checkpoint=True)  # the books rebuilt from orders.jsonl there
    assert from_checkpoint.identical, from_checkpoint.divergence
    assert from_checkpoint.from_seq is not None and 0 < from_checkpoint.decisions < result.decisions

    changed = replay_run(folder, sets=["strategy.slow_sma=9"])
    assert not changed.identical
    assert (changed.divergence or "").startswith("diverged at")
