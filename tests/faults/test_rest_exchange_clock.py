"""§6 REST, exchange and clock (reliability.md scenarios 9-13), the behaviours not pinned elsewhere.

Scenario 9 at start-up: the torture (scripts/torture.py, 1,000 kills) found a live-exchange start that
ended the run (exit 1) because the venue answered its read of the day's executions (the daily loss's seed)
with rate limits for longer than the client's retries: the start-up's reads now wait out a busy venue for
up to `START_PATIENCE_S`, saying so once, while entries stay halted.
"""

from __future__ import annotations

from pathlib import Path

from laptop_agents.core.events import Error
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.runs.run_folder import RunFolder
from tests.live.conftest import LiveHarness, live_settings


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
