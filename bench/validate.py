"""Validation throughput with 1 and 2 processes, and the supervisor strategy's backtest speed.

    .venv/bin/python bench/validate.py [--repeat 3] [--candidates 200]

Measured, each in a fresh child process and repeated (medians reported):
- a walk-forward validation of a 200-candidate sma_atr grid (fast × slow × stop_atr_mult) over the
  bundled real data (45,031 1-minute candles; train 10,000 / test 5,000 = 7 folds; breaker off so every
  candidate trades through), with --jobs 1 and --jobs 2: candidates/s and the speed-up of 2 over 1;
- the supervisor's backtest speed over the same data: the in-memory core loop validate uses (warm-up,
  core, metrics; no files; breaker off), the full backtest with every artifact as `la run --mode backtest
  --strategy supervisor` runs it (the target figure), the same with the breaker off (a stress case: it
  trades all month, blows the account and journals every idea, about 30k events), and the sma_atr full
  backtest (default config) as the baseline in the same run.
- the same validation with each candidate run alone on every window, candle by candle (what validate did
  before candidates shared their crossings), on one process: the baseline of the sharing's speed-up.
Targets (issue 6): speed-up >= 1.8x on 2 cores; supervisor backtest >= 100,000 candles/s. Issue 20: one
process at least 2x the candidate-alone baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from children import run_child

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "ftx_btc-perp_1m_2022-01.csv"
FAST = "3,5,8,10,12,15,20,25"
SLOW = "30,40,50,60,80"
STOP = "1,1.5,2,2.5,3"


def _settings(*sets: str, breaker: bool = False) -> object:
    from laptop_agents.config.loader import load_settings

    off = () if breaker else ("circuit_breaker.enabled=false",)
    return load_settings(sets=[f"data.source=csv:{BUNDLED}", *off, *sets], environ={})


def child_validate(jobs: int, candidates: int) -> dict[str, float]:
    from laptop_agents.config.models import Settings
    from laptop_agents.validate.command import load_candles
    from laptop_agents.validate.runner import run_validation

    settings = _settings(
        f"validation.grid=fast_sma={FAST};slow_sma={SLOW};stop_atr_mult={STOP}",
        f"validation.max_candidates={candidates}",
    )
    assert isinstance(settings, Settings)
    candles = load_candles(settings)
    started = time.perf_counter()
    result = run_validation(settings, candles, jobs=jobs)
    elapsed = time.perf_counter() - started
    n = result["combinations_valid"]
    return {"candidates": n, "seconds": elapsed, "candidates_per_s": n / elapsed, "folds": len(result["folds"])}


def child_alone(candidates: int) -> dict[str, float]:
    """The same validation, each candidate run alone on every window, candle by candle (the algorithm before
    candidates shared their crossings, issue 20): the baseline of the speed-up, in the same run."""
    from laptop_agents.config.models import Settings
    from laptop_agents.validate.command import load_candles
    from laptop_agents.validate.evaluate import evaluate, evaluate_with_curve
    from laptop_agents.validate.folds import walk_forward
    from laptop_agents.validate.grid import candidates as make_candidates
    from laptop_agents.validate.grid import parse_grid
    from laptop_agents.validate.runner import CURVE_POINTS

    settings = _settings(
        f"validation.grid=fast_sma={FAST};slow_sma={SLOW};stop_atr_mult={STOP}",
        f"validation.max_candidates={candidates}",
    )
    assert isinstance(settings, Settings)
    candles = load_candles(settings)
    config = settings.validation
    started = time.perf_counter()
    cands, _ = make_candidates(settings, parse_grid(config.grid), max_candidates=candidates, seed=settings.run.seed)
    folds = walk_forward(len(candles), config.train, config.test)
    train = [[evaluate(c.settings, candles, f.train_start, f.train_end) for f in folds] for c in cands]
    for c in cands:
        for f in folds:
            evaluate(c.settings, candles, f.train_end, f.test_end)
    for f in folds:  # the winner's out-of-sample curve
        best = max(range(len(cands)), key=lambda i: (train[i][f.index].objective(config), -i))
        evaluate_with_curve(cands[best].settings, candles, f.train_end, f.test_end, points=CURVE_POINTS)
    elapsed = time.perf_counter() - started
    n = len(cands)
    return {"candidates": n, "seconds": elapsed, "candidates_per_s": n / elapsed, "folds": len(folds)}


def child_backtest(strategy: str, kind: str, config: str) -> dict[str, float]:
    from laptop_agents.backtest.driver import run_backtest
    from laptop_agents.config.models import Settings
    from laptop_agents.core.clock import LiveClock
    from laptop_agents.feeds.sources import open_source
    from laptop_agents.runs.run_folder import RunFolder
    from laptop_agents.validate.command import load_candles
    from laptop_agents.validate.evaluate import evaluate

    settings = _settings(f"strategy.name={strategy}", breaker=config == "default")
    assert isinstance(settings, Settings)
    if kind == "core":
        candles = load_candles(settings)
        started = time.perf_counter()
        score = evaluate(settings, candles, 0, len(candles))
        elapsed = time.perf_counter() - started
        return {"candles_per_s": len(candles) / elapsed, "trades": score.trades}
    with tempfile.TemporaryDirectory() as tmp:
        folder = RunFolder.create(Path(tmp), "bench")
        started = time.perf_counter()
        result = run_backtest(
            settings, source=open_source(settings.data, seed=1), folder=folder, wall_clock=LiveClock()
        )
        elapsed = time.perf_counter() - started
    return {"candles_per_s": result.summary.candles / elapsed, "trades": result.summary.trades}


def _spawn(*args: str) -> dict[str, float]:
    return run_child(__file__, *args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "validate":
            result = child_validate(int(args.child[1]), int(args.child[2]))
        elif args.child[0] == "alone":
            result = child_alone(int(args.child[1]))
        else:
            result = child_backtest(args.child[1], args.child[2], args.child[3])
        print(json.dumps(result))
        return 0
    med = statistics.median
    kinds = ("alone", "v1", "v2", "sup_core", "sup_full", "sup_stress", "sma_full")
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for _ in range(args.repeat):
        runs["alone"].append(_spawn("alone", str(args.candidates)))
        runs["v1"].append(_spawn("validate", "1", str(args.candidates)))
        runs["v2"].append(_spawn("validate", "2", str(args.candidates)))
        runs["sup_core"].append(_spawn("backtest", "supervisor", "core", "stress"))
        runs["sup_full"].append(_spawn("backtest", "supervisor", "full", "default"))
        runs["sup_stress"].append(_spawn("backtest", "supervisor", "full", "stress"))
        runs["sma_full"].append(_spawn("backtest", "sma_atr", "full", "default"))
    alone = med(r["candidates_per_s"] for r in runs["alone"])
    v1 = med(r["candidates_per_s"] for r in runs["v1"])
    v2 = med(r["candidates_per_s"] for r in runs["v2"])
    core = med(r["candles_per_s"] for r in runs["sup_core"])
    full = med(r["candles_per_s"] for r in runs["sup_full"])
    stress = med(r["candles_per_s"] for r in runs["sup_stress"])
    sma = med(r["candles_per_s"] for r in runs["sma_full"])
    report = {
        "validation": {
            "candidates": runs["v1"][0]["candidates"],
            "folds": runs["v1"][0]["folds"],
            "jobs1_candidates_per_s": v1,
            "jobs2_candidates_per_s": v2,
            "speedup": v2 / v1,
            "alone_candidates_per_s": alone,
            "alone_seconds": med(r["seconds"] for r in runs["alone"]),
            "jobs1_seconds_min_max": [min(r["seconds"] for r in runs["v1"]), max(r["seconds"] for r in runs["v1"])],
            "shared_speedup_over_alone": v1 / alone,
            "jobs1_seconds": med(r["seconds"] for r in runs["v1"]),
            "jobs2_seconds": med(r["seconds"] for r in runs["v2"]),
        },
        "supervisor": {
            "core_candles_per_s": core,
            "full_backtest_candles_per_s": full,
            "sma_atr_full_backtest_candles_per_s": sma,
            "full_ratio_to_sma_atr": full / sma,
            "trades": runs["sup_full"][0]["trades"],
            "stress_full_backtest_candles_per_s": stress,
            "stress_trades": runs["sup_stress"][0]["trades"],
        },
    }
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "validate.json").write_text(json.dumps(report, indent=2) + "\n")
    va = report["validation"]
    print(
        f"validation, {va['candidates']:.0f} candidates × {va['folds']:.0f} folds over the bundled data "
        f"(median of {args.repeat}): 1 job {v1:.2f} candidates/s ({va['jobs1_seconds']:.1f} s), 2 jobs "
        f"{v2:.2f} candidates/s ({va['jobs2_seconds']:.1f} s): speed-up {v2 / v1:.2f}x"
    )
    print(
        f"sharing crossings: 1 job {va['jobs1_seconds']:.1f} s against {va['alone_seconds']:.1f} s with each "
        f"candidate run alone candle by candle: {v1 / alone:.2f}x (target >= 2x)"
    )
    print(
        f"supervisor backtest of the bundled data: {full:,.0f} candles/s with every file (default config), "
        f"{stress:,.0f} candles/s with the breaker off ({runs['sup_stress'][0]['trades']:.0f} trades), "
        f"{core:,.0f} candles/s in memory (validate's loop); sma_atr full backtest {sma:,.0f} candles/s "
        f"(supervisor at {full / sma:.0%} of it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
