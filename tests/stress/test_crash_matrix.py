"""The kill-point crash matrix (issue 13): 60 SIGKILLs of the live-exchange daemon, spread over every step
of an order's life and over the simulator's three client-id dedupe modes, each followed by `--resume`.
Exactly one venue order per intent, every venue fill booked once, the books equal to the venue's position,
no entry sent on a stale candle. `scripts/crash_matrix.py --kills 1000` runs the long version."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stress.scripts import load_script

pytestmark = pytest.mark.slow


@pytest.mark.timeout(900)
async def test_sixty_kills_at_every_step_of_an_order_leave_exactly_once(tmp_path: Path) -> None:
    matrix = load_script("crash_matrix")
    results = await matrix.run_matrix(60, workdir=tmp_path)  # type: ignore[attr-defined]
    report = "\n".join(f"{r.mode}: {r}" for r in results)
    assert all(r.ok for r in results), report
    assert sum(r.kills for r in results) >= 60, report
    for r in results:
        assert set(r.points) == set(matrix.POINTS), report  # type: ignore[attr-defined]  (every point was hit)
        assert r.orders > 0 and r.fills > 0 and r.books_match, report
        assert (r.duplicates, r.lost, r.stale_entries) == (0, 0, 0), report
