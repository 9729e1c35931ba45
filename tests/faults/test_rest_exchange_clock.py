"""§6 REST, exchange and clock (reliability.md scenarios 9-13), the behaviours not pinned elsewhere.

Scenario 9 at start-up: the torture (scripts/torture.py, 1,000 kills) found a live-exchange start that
ended the run (exit 1) because the venue answered its read of the day's executions (the daily loss's seed)
with rate limits for longer than the client's retries: the start-up's reads now wait out a busy venue for
up to `START_PATIENCE_S`, saying so once, while entries stay halted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from laptop_agents.core.events import Error
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.runs.run_folder import RunFolder
from tests.exchange.conftest import bundled_candles, sim_config
from tests.live.conftest import LiveHarness, live_settings
from tests.live.test_preflight import KEYS, la


async def test_s09_rate_limits_on_the_start_ups_reads_are_waited_out_not_fatal(
    sim: SimExchange, tmp_path: Path
) -> None:
    sim.faults.update({"rate_limit_next": 12, "rate_limit_path": "/trade/get_history_trades"})
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), live_settings()).start()
    try:
        assert sim.faults.counts["rate_limit_next"] == 12  # every one of them met, and the start went on
        said = [e for e in live.of(Error) if e.where == "start"]
        assert len(said) == 1 and "today's BTCUSDT executions" in said[0].message and not said[0].fatal
        assert "10006" in said[0].message
    finally:
        await live.stop()


@pytest.mark.parametrize("offset_ms", [3_000, -3_000])
async def test_s12_a_clock_off_by_more_than_a_second_passes_the_preflight_with_a_warning(
    tmp_path: Path, offset_ms: int
) -> None:
    """Within the bound (5 s) the session may trade, signing on the measured offset, but a clock 3 s off is
    drifting: before, the preflight said "ok" as it does for 0.1 s; now it says WARN and what to do."""
    async with SimExchange(sim_config(clock_offset_ms=offset_ms), {"BTCUSDT": bundled_candles()}) as sim:
        code, out, err = await la(tmp_path, sim, "--confirm-live", "--preflight-only", env=KEYS)
        assert (code, err) == (0, ""), err
        clock = [line for line in out.splitlines() if line.startswith("preflight") and " clock " in line]
        assert len(clock) == 1 and clock[0].startswith("preflight WARN clock"), out
        assert "drifting" in clock[0] and "NTP" in clock[0]
        assert "preflight passed" in out
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:  # a clock in step: no warning
        code, out, _ = await la(tmp_path, sim, "--confirm-live", "--preflight-only", env=KEYS)
        assert code == 0 and "preflight ok   clock" in out and "WARN" not in out
