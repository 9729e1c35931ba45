#!/usr/bin/env python3
"""Replay against its backtest (issue 16): `la replay` of the bundled month must run at least as fast as the
backtest that made it. Both run alternately as whole `la` processes (start-up included), repeated; the
report gives the medians and their ratio.

    .venv/bin/python bench/replay.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LA = [sys.executable, "-m", "laptop_agents"]


def _timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([*LA, *args], check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        _timed(["run", "--mode", "backtest", "--run-id", "replayed", "--set", f'run.runs_dir="{runs}"'])
        backtest, replay = [], []
        for n in range(args.repeat):
            backtest.append(_timed(["run", "--mode", "backtest", "--set", f'run.runs_dir="{runs}"']))
            replay.append(_timed(["replay", "replayed", "--runs-dir", str(runs)]))
            print(f"round {n + 1}/{args.repeat} done", file=sys.stderr)
    b, r = statistics.median(backtest), statistics.median(replay)
    print(f"bundled month, medians of {args.repeat} alternating whole-process runs")
    print(f"backtest  {b:.3f} s")
    print(f"replay    {r:.3f} s   ({b / r:.2f}x the backtest's speed; target >= 1.00x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
