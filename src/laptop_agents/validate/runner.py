"""Run a validation: every candidate on every training window and on the out-of-sample window after it
(in parallel processes, or on a Dask cluster: `dask_pool.py`), the best of each training window judged on its
next window, and a leaderboard.

Each process gets the candles and the candidates once (initializer); a task is a group of candidates
that share their crossings (`validate.shared`) over all their windows, so each window's crossings are
found once per task, and there are few, even tasks. Results are gathered by index, so the outcome does not depend
on `jobs` or on which process finished first: same data, grid and seed, same result. Every candidate's
out-of-sample result is kept so the report can set in-sample against out-of-sample for all of them (an
overfit grid shows as no relation between the two); the winners' windows are evaluated once more with
their equity curves, which the report stitches.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from laptop_agents.base.collector import fewer_collections
from laptop_agents.config.models import Settings, ValidateConfig
from laptop_agents.core.candle import Candle
from laptop_agents.validate.evaluate import Curve, Score, evaluate, evaluate_with_curve
from laptop_agents.validate.folds import Fold, walk_forward
from laptop_agents.validate.grid import Candidate, candidates, parse_grid
from laptop_agents.validate.shared import evaluate_shared, signal_key, signals

Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]]
"""`map`, or a process pool's `map` (results in input order either way)."""

_candles: list[Candle] = []
_candidates: list[Candidate] = []
_folds: list[Fold] = []


def _init(rows: list[tuple[int, float, float, float, float, float]], cands: list[Candidate], folds: list[Fold]) -> None:
    global _candles, _candidates, _folds
    _candles = [Candle(*row) for row in rows]
    _candidates, _folds = cands, folds


CURVE_POINTS = 300
"""Points of each winner's out-of-sample equity curve in the report."""


def _train(group: list[int]) -> list[tuple[list[Score], list[Score]]]:
    """Candidates of one signal key (`tasks`) on every training window and every out-of-sample window: the
    crossings of each window are found once for all of them."""
    first = _candidates[group[0]].settings
    shared = signal_key(first) is not None
    out: list[tuple[list[Score], list[Score]]] = [([], []) for _ in group]
    windows = [w for f in _folds for w in ((f.train_start, f.train_end), (f.train_end, f.test_end))]
    with fewer_collections():
        for n, (start, end) in enumerate(windows):
            found = signals(first, _candles, start, end) if shared else None
            for slot, index in enumerate(group):
                settings = _candidates[index].settings
                score = (
                    evaluate(settings, _candles, start, end)
                    if found is None
                    else evaluate_shared(settings, _candles, start, end, found)[0]
                )
                out[slot][n % 2].append(score)  # even: a training window, odd: the test window after it
    return out


def _test(task: tuple[int, int]) -> tuple[Score, Curve]:
    index, fold = task
    f = _folds[fold]
    settings = _candidates[index].settings
    if signal_key(settings) is None:
        return evaluate_with_curve(settings, _candles, f.train_end, f.test_end, points=CURVE_POINTS)
    found = signals(settings, _candles, f.train_end, f.test_end)
    return evaluate_shared(settings, _candles, f.train_end, f.test_end, found, points=CURVE_POINTS)


def tasks(cands: Sequence[Candidate], jobs: int) -> list[list[int]]:
    """Candidates grouped by signal key (sma_atr's averages and ATR period; every other strategy's candidate
    alone), a group split when it is larger than its share of `jobs` processes (about 4 tasks each), so a
    grid over one key still runs in parallel. Which candidates share a task never changes a result."""
    groups: dict[object, list[int]] = {}
    for cand in cands:
        key = signal_key(cand.settings)
        groups.setdefault(cand.index if key is None else key, []).append(cand.index)
    size = max(1, -(-len(cands) // (4 * jobs)))
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_validation(
    settings: Settings,
    candles: Sequence[Candle],
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The whole validation as a JSON-able dict (what validation.json holds). `on_progress(done, total)`.
    `scheduler` (else `validation.scheduler`): a Dask scheduler's address; the tasks run on its workers."""
    config = settings.validation
    grid = parse_grid(config.grid)
    cands, dropped = candidates(settings, grid, max_candidates=config.max_candidates, seed=settings.run.seed)
    folds = walk_forward(len(candles), config.train, config.test)
    jobs = jobs or config.jobs or default_jobs()
    jobs = max(1, min(jobs, len(cands)))
    scheduler = config.scheduler if scheduler is None else scheduler
    total = len(cands) + len(folds)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)

    rows = [c.as_tuple() for c in candles]
    with contextlib.ExitStack() as stack:
        mapper: Mapper = map
        if scheduler:  # a Dask cluster: its worker threads are the jobs
            from laptop_agents.validate.dask_pool import dask_pool

            mapper, threads = stack.enter_context(dask_pool(scheduler, (rows, cands, folds)))
            jobs = max(1, min(threads, len(cands)))
        elif jobs == 1:  # in this process: no pool to start, nothing to pickle
            _init(rows, cands, folds)
        else:
            pool = stack.enter_context(
                ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(rows, cands, folds))
            )
            mapper = pool.map
        train: list[list[Score]] = [[] for _ in cands]
        unseen: list[list[Score]] = [[] for _ in cands]
        groups = tasks(cands, jobs)
        for group, results in zip(groups, mapper(_train, groups), strict=True):
            for index, (scores, out_of_sample) in zip(group, results, strict=True):
                train[index], unseen[index] = scores, out_of_sample
                tick()
        best = _best_per_fold(train, folds, config)
        tests: list[Score] = []
        curves: list[Curve] = []
        for score, curve in mapper(_test, [(best[f.index], f.index) for f in folds]):
            tests.append(score)
            curves.append(curve)
            tick()
    result = _report(settings, config, grid, cands, dropped, folds, train, best, tests, candles)
    _add_out_of_sample(result, config, unseen, curves)
    result["starting_balance"] = settings.broker.starting_balance
    return result


def _add_out_of_sample(result: dict[str, Any], config: ValidateConfig, unseen: list[list[Score]],
                       curves: list[Curve]) -> None:  # fmt: skip
    """Each leaderboard row's out-of-sample results (every fold's test window, whether it won the fold or
    not) and each fold's winner's out-of-sample curve."""
    for row in result["leaderboard"]:
        scores = unseen[row["candidate"]]
        row["test_net_pnl"] = sum(s.net_pnl for s in scores)
        row["test_mean_objective"] = sum(s.objective(config) for s in scores) / len(scores) if scores else 0.0
        row["test_trades"] = sum(s.trades for s in scores)
        row["test_fold_net_pnl"] = [s.net_pnl for s in scores]
    for fold, curve in zip(result["folds"], curves, strict=True):
        fold["test_curve"] = [[ts, round(equity, 4)] for ts, equity in curve]


def _best_per_fold(train: list[list[Score]], folds: list[Fold], config: ValidateConfig) -> dict[int, int]:
    """The candidate with the highest training objective in each fold (the lower index on a tie)."""
    return {f.index: max(range(len(train)), key=lambda i: (train[i][f.index].objective(config), -i)) for f in folds}


def _report(
    settings: Settings,
    config: ValidateConfig,
    grid: dict[str, list[Any]],
    cands: list[Candidate],
    dropped: int,
    folds: list[Fold],
    train: list[list[Score]],
    best: dict[int, int],
    tests: list[Score],
    candles: Sequence[Candle],
) -> dict[str, Any]:
    won = [0] * len(cands)
    for index in best.values():
        won[index] += 1
    board: list[dict[str, Any]] = []
    for i, scores in enumerate(train):
        objectives = [s.objective(config) for s in scores]
        board.append({
            "candidate": i,
            "params": cands[i].params,
            "mean_objective": sum(objectives) / len(objectives),
            "train_net_pnl": sum(s.net_pnl for s in scores),
            "worst_drawdown": max(s.max_drawdown for s in scores),
            "trades": sum(s.trades for s in scores),
            "folds_won": won[i],
        })  # fmt: skip
    board.sort(key=lambda row: (-float(row["mean_objective"]), int(row["candidate"])))
    for rank, row in enumerate(board, start=1):
        row["rank"] = rank
    fold_rows = []
    for f, test in zip(folds, tests, strict=True):
        index = best[f.index]
        fold_rows.append({
            "fold": f.index,
            "train": {"from_ts": candles[f.train_start].ts, "to_ts": candles[f.train_end - 1].ts,
                      "candles": f.train_end - f.train_start},
            "test": {"from_ts": candles[f.train_end].ts, "to_ts": candles[f.test_end - 1].ts,
                     "candles": f.test_end - f.train_end},
            "best_candidate": index,
            "best_params": cands[index].params,
            "train_result": train[index][f.index].as_dict(config),
            "test_result": test.as_dict(config),
        })  # fmt: skip
    oos = {
        "net_pnl": sum(t.net_pnl for t in tests),
        "trades": sum(t.trades for t in tests),
        "wins": sum(t.wins for t in tests),
        "worst_drawdown": max(t.max_drawdown for t in tests),
        "objective": sum(t.objective(config) for t in tests),
        "profitable_folds": sum(1 for t in tests if t.net_pnl > 0),
        "folds": len(tests),
    }
    return {
        "strategy": settings.strategy.name,
        "symbol": settings.data.symbol,
        "source": settings.data.source,
        "interval": settings.data.interval,
        "candles": len(candles),
        "first_ts": candles[0].ts,
        "last_ts": candles[-1].ts,
        "seed": settings.run.seed,
        "grid": grid,
        "objective": config.objective,
        "dd_penalty": config.dd_penalty,
        "train": config.train,
        "test": config.test,
        "combinations_valid": len(cands),
        "combinations_dropped_invalid": dropped,
        "max_candidates": config.max_candidates,
        "folds": fold_rows,
        "out_of_sample": oos,
        "best_params": board[0]["params"],
        "leaderboard": board,
    }
