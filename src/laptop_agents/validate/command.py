"""`la run --mode validate`: load the candles, run the validation, write the run folder, print the board.

The run folder holds `config.json`, `validation.json` (folds, best parameters, out-of-sample results,
leaderboard) and `summary.html` with the validation section; `runs/latest` points at it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from laptop_agents.config.loader import redacted_dump
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import DataError
from laptop_agents.feeds.sources import open_source
from laptop_agents.reporting.validation_report import leaderboard_table, write_validation_html
from laptop_agents.runs.run_folder import RunFolder, new_run_id
from laptop_agents.validate.progress import Progress
from laptop_agents.validate.runner import default_jobs, run_validation


def load_candles(settings: Settings) -> list[Candle]:
    """Every candle of the source, checked to ascend (validation slices by position)."""
    source = open_source(settings.data, seed=settings.run.seed)
    candles = list(source)
    for a, b in itertools.pairwise(candles):
        if b.ts <= a.ts:
            raise DataError(
                f"data.source {source.describe()}: ts={b.ts} does not come after ts={a.ts}; "
                "sort the file and drop duplicates (or run a backtest with data.sort=true to see where)"
            )
    return candles


def run_validate(settings: Settings, *, show: Callable[[str], None] = print, shown_path: Callable[[Path], str]) -> int:
    if settings.validation.scheduler:
        from laptop_agents.validate.dask_pool import load_distributed

        load_distributed()  # not installed: one line, before any run folder exists
    candles = load_candles(settings)
    wall = LiveClock()
    folder = RunFolder.create(Path(settings.run.runs_dir), settings.run.run_id or new_run_id("validate", wall.now_ms()))
    folder.config.write_bytes(orjson.dumps(redacted_dump(settings), option=orjson.OPT_INDENT_2) + b"\n")
    jobs = settings.validation.jobs or default_jobs()
    scheduler = settings.validation.scheduler
    where = f"on the Dask cluster at {scheduler}" if scheduler else f"on {jobs} process{'es' if jobs != 1 else ''}"
    progress: Progress | None = None

    def on_progress(done: int, total: int) -> None:
        nonlocal progress
        if progress is None:
            progress = Progress(total, f"validate ({where})")
        progress.advance()

    started = time.perf_counter()
    result = run_validation(settings, candles, jobs=jobs, on_progress=on_progress)
    elapsed = time.perf_counter() - started
    (folder.path / "validation.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    write_validation_html(folder.summary, folder.run_id, result, elapsed_s=elapsed, where=where)
    folder.point_latest()
    evaluations = 2 * result["combinations_valid"] * len(result["folds"]) + len(result["folds"])  # train, test, curves
    show(leaderboard_table(result))
    show(
        f"{result['combinations_valid']} candidates × {len(result['folds'])} folds in {elapsed:.1f} s "
        f"({evaluations / elapsed:.1f} evaluations/s {where})"
    )
    show(f"validation.json and summary.html in {shown_path(folder.path)}")
    return 0
