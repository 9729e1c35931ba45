"""Whole-process figures, each a fresh process timed from outside (interpreter start and exit included):

    .venv/bin/python bench/process.py [--repeat 5] [--candles 1000000]

1. A backtest from CSV: `la run --mode backtest` over N seeded mock candles written to a CSV (default config,
   every artifact), against the bare loop (bench/backtest.py's floor: csv.reader, int/float per field, the
   same SMA/ATR and crossover signals) over the same file, also as a whole process. Target (issue 20): our
   candles/s >= 50 % of the loop's, peak RSS < 100 MB.
2. Start-up: `la --help`, `la run --print-config`, and the time from starting `la run --mode backtest` to its
   first candle (the wall time its `RunStarted` event carries). Targets: under 0.3 s, 0.3 s and 0.5 s.
   A bare `python -c pass` is the baseline.

Medians of `--repeat` runs, min–max beside them; results in bench/results/process.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LA = [sys.executable, "-m", "laptop_agents"]


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process, from outside; it must succeed."""
    global _started_ms
    _started_ms = time.time() * 1000.0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        assert proc.stderr is not None
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.read().decode()[-500:]}")
    return elapsed, usage.ru_maxrss / 1024.0


_started_ms = 0.0  # wall time the last process was started at


def first_candle_s(folder: Path) -> float:
    """Seconds from the start of the process to its first candle: `RunStarted` is written as the first candle
    goes into the core, stamped with the wall time (`ts_init`)."""
    for line in (folder / "events.jsonl").read_bytes().splitlines():
        event = json.loads(line)
        if event["event"] == "RunStarted":
            return (event["ts_init"] - _started_ms) / 1000.0
    raise SystemExit(f"{folder}: no RunStarted event")


def write_mock_csv(path: Path, count: int) -> None:
    from laptop_agents.feeds.mock_source import MockCandles

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "open", "high", "low", "close", "volume"])
        mock = MockCandles(count=count, seed=42, start_price=30_000.0, volatility_bps=20.0,
                           start_ts=1_640_995_200_000, step_ms=60_000)  # fmt: skip
        writer.writerows(c.as_tuple() for c in mock)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--candles", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.candles
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "mock.csv"
        write_mock_csv(data, n)
        runs = f"run.runs_dir={work / 'runs'}"
        plan_sets = ["--set", runs]
        plan: dict[str, list[str]] = {
            "python_bare": [sys.executable, "-c", "pass"],
            "la_help": [*LA, "--help"],
            "la_print_config": [*LA, "run", "--print-config"],
            "backtest_50": [*LA, "run", "--mode", "backtest", "--source", "mock", "--set", "data.mock_candles=50"],
            "backtest_csv": [*LA, "run", "--mode", "backtest", "--source", f"csv:{data}"],
            "floor_csv": [sys.executable, str(REPO / "bench" / "backtest.py"), "--child", "floor", f"csv:{data}", "0"],
        }
        for key in ("backtest_50", "backtest_csv"):
            plan[key] += plan_sets
        seconds: dict[str, list[float]] = {k: [] for k in plan}
        rss: dict[str, list[float]] = {k: [] for k in plan}
        first: list[float] = []
        for i in range(args.repeat):  # interleaved, so drift on a shared machine hits every measurement alike
            for key, cmd in plan.items():
                run_id = ["--run-id", f"{key}-{i}"] if key.startswith("backtest") else []
                elapsed, peak = timed(cmd + run_id, REPO)
                seconds[key].append(elapsed)
                rss[key].append(peak)
                if key == "backtest_50":
                    first.append(first_candle_s(work / "runs" / f"{key}-{i}"))
            print(f"round {i + 1}/{args.repeat} done", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in seconds.items()}
    ratio = med["floor_csv"] / med["backtest_csv"]  # candles/s ratio = inverse of the seconds ratio
    report = {
        "candles": n,
        "repeat": args.repeat,
        "seconds": {k: summary(v) for k, v in seconds.items()},
        "first_candle_s": summary(first),
        "peak_rss_mb": {k: summary(v) for k, v in rss.items()},
        "backtest_csv_candles_per_s": n / med["backtest_csv"],
        "floor_csv_candles_per_s": n / med["floor_csv"],
        "ratio_backtest_to_floor_csv": ratio,
    }
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "process.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Whole processes, medians of {args.repeat} runs (min–max), timed from outside")
    print(f"{'measurement':<18}{'seconds':>9}{'min–max':>16}{'peak RSS MB':>13}")
    for key in plan:
        s = report["seconds"][key]
        print(f"{key:<18}{s['median']:>9.3f}{s['min']:>8.3f}–{s['max']:<7.3f}{statistics.median(rss[key]):>13.1f}")
    print(
        f"backtest from CSV ({n:,} candles): {report['backtest_csv_candles_per_s']:,.0f} candles/s, "
        f"the bare loop {report['floor_csv_candles_per_s']:,.0f}: {ratio:.1%} of it (target >= 50 %)"
    )
    print(
        f"start-up: la --help {med['la_help']:.2f} s, --print-config {med['la_print_config']:.2f} s (targets 0.3 s); "
        f"first candle of a backtest after {report['first_candle_s']['median']:.2f} s (target 0.5 s; the whole "
        f"50-candle run {med['backtest_50']:.2f} s); bare python {med['python_bare']:.3f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
