"""Torture (issue 21): 60 random SIGKILLs of a live-paper and a live-exchange daemon against one
`la sim-exchange` process with random faults, each followed by `--resume`. No torn file, no duplicate order,
no lost fill, the books equal to the venue's, the paper trades equal to a backtest of the same candles.
`scripts/torture.py --kills 1000` runs the long version."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stress.scripts import load_script

pytestmark = pytest.mark.slow


@pytest.mark.timeout(900)
async def test_sixty_random_kills_under_random_faults_leave_nothing_torn_doubled_or_lost(tmp_path: Path) -> None:
    torture = load_script("torture")
    results, faults = await torture.torture(60, workdir=tmp_path)  # type: ignore[attr-defined]
    report = "\n".join(f"{r.chain}: {r}" for r in results) + f"\nfaults fired: {faults}"
    assert all(r.ok for r in results), report
    paper, exchange = results
    assert paper.kills + exchange.kills == 60 and paper.early_kills and exchange.early_kills, report
    assert (paper.torn, exchange.torn, exchange.duplicates, exchange.lost, exchange.stale_entries) == (0, 0, 0, 0, 0)
    assert exchange.orders > 0 and exchange.fills > 0 and exchange.books_match, report
    assert paper.trades >= 3 and paper.trades_match and paper.replay_identical, report
    assert len(faults) >= 5, report  # the faults were really met, not only switched on
