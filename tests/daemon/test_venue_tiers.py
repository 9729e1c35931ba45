"""Live-paper margins positions with the exchange's risk-limit tiers (issue 15): read from
`/position/get_position_tiers` at the start, over real loopback REST to the simulator; the configured tiers
stand when the exchange cannot tell, and one `Error where=tiers` says so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import start_live
from tests.daemon.test_live_paper import LIVE_SETTINGS
from tests.exchange.conftest import bundled_candles, sim_config
from tests.helpers import settings

# the configuration's own tier keeps 1 % as maintenance margin; the simulated exchange's 0.4 % up to 200,000
# of notional and 0.5 % up to 1,000,000
CONFIGURED = ('broker.position_tiers=[{"max_notional": 1e9, "maintenance_rate": 0.01, "max_leverage": 50}]',)
LEVERED = (*LIVE_SETTINGS, "exchange.leverage=50", "risk.max_leverage=47", "risk.risk_pct=20", *CONFIGURED)


async def first_position(
    tmp_path: Path, faults: dict[str, object]
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """Run live-paper until its books hold a position; that position and the run's events."""
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        sim.faults.update(faults)
        folder = RunFolder.create(tmp_path / "runs", "live")
        task, runner = await start_live(sim, settings(*LEVERED), folder)

        position = None
        for _ in range(400):  # step the market until the session's books hold a position
            await sim.hub.advance(sim.market.k)
            await asyncio.sleep(0.01)
            held = runner.core.broker.position
            if held is not None:
                position = {slot: getattr(held, slot) for slot in type(held).__slots__}
                break
        runner.stop("test done")
        await asyncio.wait_for(task, 30)
    events = [orjson.loads(x) for x in folder.events.read_bytes().splitlines()]
    assert position is not None
    return position, events


async def test_live_paper_liquidates_by_the_exchanges_tiers(tmp_path: Path) -> None:
    position, events = await first_position(tmp_path, {})
    entry, qty = float(position["entry_price"]), float(position["qty"])  # type: ignore[arg-type]
    rate = 0.004 if qty * entry <= 200_000 else 0.005  # the venue's tier for this notional, not the configured 1 %
    expected = entry * (1 - 1 / 50 + rate) if position["side"] == "long" else entry * (1 + 1 / 50 - rate)
    assert position["liquidation_price"] == pytest.approx(expected)
    assert not [e for e in events if e["event"] == "Error" and e["where"] == "tiers"]


async def test_without_the_exchanges_tiers_the_configured_ones_stand_and_it_says_so(tmp_path: Path) -> None:
    faults = {"malformed_reply_next": 1, "malformed_reply_path": "/position/get_position_tiers"}
    position, events = await first_position(tmp_path, faults)
    entry = float(position["entry_price"])  # type: ignore[arg-type]
    expected = entry * (1 - 1 / 50 + 0.01) if position["side"] == "long" else entry * (1 + 1 / 50 - 0.01)
    assert position["liquidation_price"] == pytest.approx(expected)
    (said,) = [e for e in events if e["event"] == "Error" and e["where"] == "tiers"]
    assert "using broker.position_tiers" in said["message"] and said["fatal"] is False
