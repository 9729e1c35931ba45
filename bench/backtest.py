"""Backtest throughput and memory, as ratios against a plain-Python floor measured in the same run.

    .venv/bin/python bench/backtest.py [--repeat 5] [--candles 1000000]

Each measurement runs in a fresh child process (so peak RSS is that run's own) and is repeated; medians
are reported. Measured:
- full backtest (strategy + broker + event log + every artifact, summary.html included) of the bundled
  real data and of N seeded mock candles, with the default config and "busy" (breaker off, no costs,
  so it trades all the way through);
- the floor: a plain loop with no objects that makes the same mock candles (or parses the same CSV)
  and computes the same SMA/ATR values and crossover signals; and the same loop over tuples made before
  the clock starts (indicators and signals only, the fastest possible loop);
- peak RSS of the full backtest at 100k and at N candles (flat memory: the input is streamed).
Targets (issue 2): >= 300,000 candles/s on the 1M run, >= 15 % of the floor, RSS < 200 MB and within
10 % between 100k and 1M candles.

    .venv/bin/python bench/backtest.py --against REV [--repeat 7]

compares this tree with commit REV (checked out in a temporary git worktree) on the full backtest, default
and busy: the two run alternately, each in a fresh process, and the report gives the median candles/s of
each and their ratio (issue 15: no more than 5 % slower).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from children import run_child

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "ftx_btc-perp_1m_2022-01.csv"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def child_full(source: str, candles: int, busy: bool) -> dict[str, float]:
    from laptop_agents.backtest.driver import run_backtest
    from laptop_agents.config.loader import load_settings
    from laptop_agents.core.clock import LiveClock
    from laptop_agents.feeds.sources import open_source
    from laptop_agents.runs.run_folder import RunFolder

    # "busy": breaker off and no trading costs, so the account survives and trades all the way through
    # (with costs, a random walk drains it and later entries are refused for min notional).
    sets = (
        [
            "circuit_breaker.enabled=false",
            "broker.half_spread_bps=0",
            "broker.slippage_bps=0",
            "broker.taker_fee_bps=0",
            "broker.maker_fee_bps=0",
        ]
        if busy
        else []
    )
    if source == "mock":
        sets += ['data.source="mock"', f"data.mock_candles={candles}"]
    else:
        sets.append(f'data.source="csv:{BUNDLED}"')
    settings = load_settings(sets=sets, environ={})
    with tempfile.TemporaryDirectory() as tmp:
        folder = RunFolder.create(Path(tmp), "bench")
        src = open_source(settings.data, seed=settings.run.seed)
        start = time.perf_counter()
        result = run_backtest(settings, source=src, folder=folder, wall_clock=LiveClock())
        elapsed = time.perf_counter() - start
    return {
        "candles": result.summary.candles,
        "seconds": elapsed,
        "trades": result.summary.trades,
        "candles_per_s": result.summary.candles / elapsed,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _floor_signals(rows: object) -> tuple[int, int]:
    """SMA(10), SMA(30), Wilder ATR(14) and crossovers with the ATR filter: locals only, no objects."""
    fast_n, slow_n, atr_n, min_atr_pct = 10, 30, 14, 0.05
    fast_buf, slow_buf = [0.0] * fast_n, [0.0] * slow_n
    fast_sum = slow_sum = 0.0
    atr = tr_sum = 0.0
    n = signals = 0
    prev_close = prev_fast = prev_slow = -1.0
    for _, _, h, low, c in rows:  # type: ignore[attr-defined]
        fi, si = n % fast_n, n % slow_n
        fast_sum += c - fast_buf[fi]
        fast_buf[fi] = c
        slow_sum += c - slow_buf[si]
        slow_buf[si] = c
        if n:
            tr = max(h - low, abs(h - prev_close), abs(low - prev_close))
            if n <= atr_n:
                tr_sum += tr
                if n == atr_n:
                    atr = tr_sum / atr_n
            else:
                atr = (atr * (atr_n - 1) + tr) / atr_n
        prev_close = c
        n += 1
        if n >= slow_n and n > atr_n:
            fast, slow = fast_sum / fast_n, slow_sum / slow_n
            crossed = (fast > slow and prev_fast <= prev_slow) or (fast < slow and prev_fast >= prev_slow)
            if prev_slow > 0 and crossed and atr / c * 100 >= min_atr_pct:
                signals += 1
            prev_fast, prev_slow = fast, slow
    return n, signals


def _mock_rows(count: int, seed: int) -> object:
    """The same random walk as MockCandles, as bare tuples."""
    rng = random.Random(seed)
    uniform = rng.random
    sigma, price, ts = 20.0 / 1e4, 30_000.0, 1_640_995_200_000
    for _ in range(count):
        close = price * math.exp((uniform() + uniform() + uniform() - 1.5) * 2.0 * sigma)
        u = uniform()
        hi = (close if close > price else price) * (1.0 + u * sigma)
        lo = (price if close > price else close) * (1.0 - (1.0 - u) * sigma)
        yield ts, price, hi, lo, close
        price = close
        ts += 60_000


def _csv_rows(path: Path) -> object:
    with path.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            yield int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4])


def child_floor(source: str, candles: int) -> dict[str, float]:
    if source == "tuples":  # indicators and signals only, over rows made before the clock starts
        rows: object = list(_mock_rows(candles, 42))
    elif source.startswith("csv:"):  # bench/process.py: the same loop over another file
        rows = _csv_rows(Path(source.removeprefix("csv:")))
    else:
        rows = _mock_rows(candles, 42) if source == "mock" else _csv_rows(BUNDLED)
    start = time.perf_counter()
    n, signals = _floor_signals(rows)
    elapsed = time.perf_counter() - start
    return {
        "candles": n,
        "seconds": elapsed,
        "signals": signals,
        "candles_per_s": n / elapsed,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _spawn(*args: str, src: str | None = None) -> dict[str, float]:
    return run_child(__file__, *args, src=src)


def against(rev: str, candles: int, repeat: int) -> int:
    """A/B of this tree against commit `rev`, alternating, on the default and busy full backtests."""
    plan = {"full_mock": ("full", "mock", candles), "full_mock_busy": ("busy", "mock", candles),
            "full_real": ("full", "real", 0), "full_real_busy": ("busy", "real", 0)}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), rev], check=True,
                       capture_output=True)  # fmt: skip
        try:
            sides = {"base": str(base / "src"), "this": str(REPO / "src")}
            runs: dict[tuple[str, str], list[dict[str, float]]] = {(k, s): [] for k in plan for s in sides}
            for i in range(repeat):
                order = list(sides) if i % 2 == 0 else list(reversed(sides))  # alternate who goes first
                for key, (kind, source, count) in plan.items():
                    for side in order:
                        runs[key, side].append(_spawn(kind, source, str(count), src=sides[side]))
                print(f"round {i + 1}/{repeat} done", file=sys.stderr)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], check=False)
    print(f"A/B against {rev}: medians of {repeat} alternating runs, each in a fresh process")
    print(f"{'measurement':<18}{rev[:12]:>14}{'this tree':>14}{'ratio':>8}{'trades':>14}")
    report: dict[str, dict[str, float]] = {}
    for key in plan:
        base_cps, this_cps = _median(runs[key, "base"], "candles_per_s"), _median(runs[key, "this"], "candles_per_s")
        trades = f"{runs[key, 'base'][0]['trades']:.0f}/{runs[key, 'this'][0]['trades']:.0f}"
        report[key] = {"base": base_cps, "this": this_cps, "ratio": this_cps / base_cps}
        print(f"{key:<18}{base_cps:>14,.0f}{this_cps:>14,.0f}{this_cps / base_cps:>8.1%}{trades:>14}")
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "backtest_ab.json").write_text(json.dumps({"against": rev, "repeat": repeat, **report}, indent=2))
    return 0


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--against", metavar="REV", help="A/B against this commit instead of the floor report")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, source, count = args.child[0], args.child[1], int(args.child[2])
        busy = kind == "busy"
        result = child_floor(source, count) if kind == "floor" else child_full(source, count, busy=busy)
        print(json.dumps(result))
        return 0
    if args.against:
        return against(args.against, args.candles, args.repeat)

    n, r = args.candles, args.repeat
    plan = {
        "full_mock": ("full", "mock", n),
        "full_mock_busy": ("busy", "mock", n),
        "floor_mock": ("floor", "mock", n),
        "floor_tuples": ("floor", "tuples", n),
        "full_mock_100k": ("full", "mock", 100_000),
        "full_real": ("full", "real", 0),
        "full_real_busy": ("busy", "real", 0),
        "floor_real": ("floor", "real", 0),
    }
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in plan}
    for i in range(r):  # interleaved, so drift on a shared machine hits every measurement alike
        for key, (kind, source, count) in plan.items():
            runs[key].append(_spawn(kind, source, str(count)))
        print(f"round {i + 1}/{r} done", file=sys.stderr)

    med = {k: _median(v, "candles_per_s") for k, v in runs.items()}
    rss = {k: _median(v, "peak_rss_mb") for k, v in runs.items()}
    report = {
        "candles": n,
        "repeat": r,
        "median_candles_per_s": {k: round(v) for k, v in med.items()},
        "ratio_full_to_floor_mock": med["full_mock"] / med["floor_mock"],
        "ratio_full_busy_to_floor_mock": med["full_mock_busy"] / med["floor_mock"],
        "ratio_full_to_floor_tuples": med["full_mock"] / med["floor_tuples"],
        "ratio_full_to_floor_real": med["full_real"] / med["floor_real"],
        "median_peak_rss_mb": {k: round(v, 1) for k, v in rss.items()},
        "rss_growth_100k_to_1m_pct": (rss["full_mock"] / rss["full_mock_100k"] - 1.0) * 100.0,
        "trades": {k: v[0].get("trades") for k, v in runs.items() if "trades" in v[0]},
    }
    out_dir = REPO / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "backtest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"Backtest benchmark: medians of {r} runs, each in a fresh process")
    print(f"{'measurement':<24}{'candles/s':>14}{'peak RSS MB':>14}{'trades':>9}")
    for key in plan:
        trades = runs[key][0].get("trades", "")
        print(f"{key:<24}{med[key]:>14,.0f}{rss[key]:>14.1f}{trades!s:>9}")
    print(
        f"full / floor (mock {n:,}): {report['ratio_full_to_floor_mock']:.1%}  "
        f"(busy: {report['ratio_full_busy_to_floor_mock']:.1%});  "
        f"full / floor (real): {report['ratio_full_to_floor_real']:.1%}"
    )
    print(f"full / indicator-only floor over pre-made tuples: {report['ratio_full_to_floor_tuples']:.1%}")
    print(f"peak RSS growth 100k → {n:,} candles: {report['rss_growth_100k_to_1m_pct']:+.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
