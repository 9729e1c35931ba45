"""validate on Dask distributed: 1 against 2 workers, and the cost per candidate against the process pool.

    .venv/bin/python bench/validate_dask.py [--repeat 3] [--candidates 200]

The same walk-forward as bench/validate.py (a 200-candidate sma_atr grid over the bundled 45,031 1-minute
candles, train 10,000 / test 5,000 = 7 folds, breaker off), run by `run_validation(..., scheduler=...)` on a
`distributed.LocalCluster` of worker processes over loopback (one thread each), started before the clock
runs (a cluster outlives many validations), and by the local process pool (`--jobs 2`) in the same run.

Reported (medians of `--repeat`, min-max beside): seconds on 1 and on 2 Dask workers and the speed-up
(target, issue 20: >= 1.8x); seconds on 1 local process and on the pool with 2 jobs, whose speed-up is what
the machine's cores allow any backend (2 vCPUs that share a core give ~1.5x); and the overhead per candidate of
Dask against the pool, (Dask 2 workers - pool 2 jobs) / candidates, which says from what grid size a
cluster of more machines pays: it pays once the time the extra machines save exceeds that overhead.
Results in bench/results/validate_dask.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "ftx_btc-perp_1m_2022-01.csv"
GRID = "fast_sma=3,5,8,10,12,15,20,25;slow_sma=30,40,50,60,80;stop_atr_mult=1,1.5,2,2.5,3"


def timed(settings: Any, candles: Any, **how: Any) -> tuple[float, dict[str, Any]]:
    from laptop_agents.validate.runner import run_validation

    started = time.perf_counter()
    result = run_validation(settings, candles, **how)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=200)
    args = parser.parse_args()
    import distributed

    from laptop_agents.config.loader import load_settings
    from laptop_agents.validate.command import load_candles

    settings = load_settings(
        sets=[f"data.source=csv:{BUNDLED}", "circuit_breaker.enabled=false", f"validation.grid={GRID}",
              f"validation.max_candidates={args.candidates}"], environ={},
    )  # fmt: skip
    candles = load_candles(settings)
    seconds: dict[str, list[float]] = {"dask1": [], "dask2": [], "pool1": [], "pool2": []}
    results: dict[str, dict[str, Any]] = {}
    for workers in (1, 2):
        with distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
        ) as cluster:
            for _ in range(args.repeat):
                elapsed, results[f"dask{workers}"] = timed(settings, candles, scheduler=cluster.scheduler_address)
                seconds[f"dask{workers}"].append(elapsed)
    for _ in range(args.repeat):
        for jobs in (1, 2):
            elapsed, results[f"pool{jobs}"] = timed(settings, candles, jobs=jobs)
            seconds[f"pool{jobs}"].append(elapsed)
    assert results["dask1"] == results["dask2"] == results["pool1"] == results["pool2"], "Dask changed a result"
    med = {k: statistics.median(v) for k, v in seconds.items()}
    n = results["pool2"]["combinations_valid"]
    report = {
        "candidates": n, "folds": len(results["pool2"]["folds"]), "repeat": args.repeat,
        "seconds": med, "seconds_min_max": {k: [min(v), max(v)] for k, v in seconds.items()},
        "dask_speedup_2_over_1": med["dask1"] / med["dask2"],
        "pool_speedup_2_over_1": med["pool1"] / med["pool2"],
        "dask_overhead_ms_per_candidate": (med["dask2"] - med["pool2"]) * 1000 / n,
    }  # fmt: skip
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "validate_dask.json").write_text(json.dumps(report, indent=2) + "\n")
    span = report["seconds_min_max"]
    print(f"validate on Dask, {n} candidates x {report['folds']} folds, median of {args.repeat}:")
    labels = (("dask1", "Dask, 1 worker"), ("dask2", "Dask, 2 workers"), ("pool1", "1 local process"),
              ("pool2", "process pool, 2 jobs"))  # fmt: skip
    for key, label in labels:
        print(f"  {label:<22} {med[key]:7.2f} s ({span[key][0]:.2f}-{span[key][1]:.2f})")
    print(f"  speed-up of 2 Dask workers over 1: {report['dask_speedup_2_over_1']:.2f}x (target >= 1.8x)")
    print(
        f"  Dask's overhead against the process pool: {report['dask_overhead_ms_per_candidate']:+.1f} ms per candidate"
    )


if __name__ == "__main__":
    main()
