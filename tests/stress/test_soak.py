"""The soak (issue 21) for one simulated day: `la sim-exchange` at 4,000x and a live-paper daemon, random
faults switched on and off, the daemon sampled every quarter second. RSS, fds, tasks and queues stay flat
after warm-up, the event log grows at a constant rate per candle, the daemon catches up once the faults
end, SIGTERM exits 0, every candle is in `equity.csv` once and the event sequence has no hole.
`scripts/soak.py --days 7` runs the week."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stress.scripts import load_script

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the soak reads /proc (Linux)"),
]


@pytest.mark.timeout(180)
def test_one_simulated_day_with_faults_stays_flat(tmp_path: Path) -> None:
    soak = load_script("soak")
    result = soak.run_soak(1.0, workdir=tmp_path, sample_s=0.25)  # type: ignore[attr-defined]
    report = f"{result.figures()}\n{result.summary()}"
    assert result.ok, report
    assert result.samples >= 50 and result.warmup_samples >= 5, report
    assert result.candles >= 1_300 and result.equity_rows >= result.candles, report
    assert result.equity_contiguous and result.events_contiguous and result.exit_code == 0, report
    assert result.fired > 0 and sum(result.faults_switched.values()) >= 5, report
    assert result.reconnects > 0 and result.gaps > 0, report  # drops and skipped candles really happened
    assert result.catch_up_s is not None, report
    series = result.series
    assert all(s.rss_kb > 0 and s.fds > 0 and s.tasks > 0 for s in series), report
    assert series[-1].event_lines > series[0].event_lines > 0, report
