"""`la download` from `la sim-exchange` over loopback: is the download limited by the venue's rate, not by us?

    .venv/bin/python bench/download.py [--repeat 3] [--candles 20000]

Both processes are real (`la sim-exchange --speed 0` serving N closed 1-minute candles, `la download` writing
them), as a user runs them.

1. **At the venue's rate**: the simulator enforces Bitunix's documented 10 requests/s per address
   (`--rest-rate 10`) and `la download` sends at its default 9/s. The ceiling is 9 × 200 candles a second
   (a page is 200); the figure is the share of that ceiling reached. Target (issue 19): the download is
   limited by the rate (share near 100 %, fewer requests would be the only way faster).
2. **Unlimited** (the baseline in the same run): no venue limit, `--rate 1000`: how fast our own code goes,
   so the margin over the rate-limited case shows the limit is the rate's.

For each: wall seconds, candles/s, requests and requests/s, and the download process's CPU time (user + system, start-up
included) per 1,000 candles. Medians of `--repeat` runs, min–max beside; results in bench/results/download.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LA = [sys.executable, "-m", "laptop_agents"]
PAGE = 200
DEFAULT_RATE = 9.0


def sim(candles: int, rest_rate: int) -> tuple[subprocess.Popen[str], str]:
    data = REPO / "data" / "ftx_btc-perp_1m_2022-01.csv"
    proc = subprocess.Popen(
        [*LA, "sim-exchange", "--speed", "0", "--start-index", str(candles), "--data", str(data),
         "--rest-rate", str(rest_rate)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"REST (http://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"la sim-exchange did not start: {line!r}")
    return proc, match.group(1)


def logged(url: str) -> int:
    """Requests the simulator has answered so far (its admin log)."""
    with urllib.request.urlopen(f"{url}/admin/requests") as reply:
        return len(json.loads(reply.read()))


def download(url: str, rate: float, folder: Path) -> dict[str, float]:
    out = folder / f"d-{time.monotonic_ns()}.csv"
    cmd = [*LA, "download", "--rest-url", url, "--rate", str(rate), "--symbol", "BTCUSDT", "--since", "2021-12-31",
           "--out", str(out)]  # fmt: skip
    before = logged(url)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert proc.stdout is not None
    said = proc.stdout.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"la download failed: {said}")
    rows = out.read_bytes().count(b"\n") - 1
    return {"wall_s": wall, "candles": rows, "cpu_s": usage.ru_utime + usage.ru_stime, "requests": logged(url) - before}


def case(candles: int, rest_rate: int, rate: float, repeat: int, folder: Path) -> dict[str, object]:
    proc, url = sim(candles, rest_rate)
    try:
        runs = [download(url, rate, folder) for _ in range(repeat)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    walls = [r["wall_s"] for r in runs]
    per_s = [r["candles"] / r["wall_s"] for r in runs]
    cpu_k = [r["cpu_s"] * 1e6 / r["candles"] for r in runs]  # ms per 1,000 candles
    sent = [r["requests"] / r["wall_s"] for r in runs]
    assert all(r["candles"] == candles for r in runs), runs
    return {
        "wall_s": statistics.median(walls), "wall_min_max": [min(walls), max(walls)],
        "candles_per_s": statistics.median(per_s), "candles_per_s_min_max": [min(per_s), max(per_s)],
        "cpu_ms_per_1000": statistics.median(cpu_k), "cpu_ms_per_1000_min_max": [min(cpu_k), max(cpu_k)],
        "requests": statistics.median(r["requests"] for r in runs), "requests_per_s": statistics.median(sent),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--candles", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        limited = case(args.candles, 10, DEFAULT_RATE, args.repeat, folder)
        free = case(args.candles, 1_000_000, 1_000.0, args.repeat, folder)
    ceiling = DEFAULT_RATE * PAGE
    limited_per_s, free_per_s = float(limited["candles_per_s"]), float(free["candles_per_s"])  # type: ignore[arg-type]
    share = limited_per_s / ceiling
    rate_share = float(limited["requests_per_s"]) / DEFAULT_RATE  # type: ignore[arg-type]
    results = {
        "candles": args.candles, "repeat": args.repeat, "rate_per_s": DEFAULT_RATE, "ceiling_candles_per_s": ceiling,
        "at_venue_rate": limited, "unlimited": free, "share_of_ceiling": share, "share_of_rate": rate_share,
        "unlimited_over_limited": free_per_s / limited_per_s,
    }  # fmt: skip
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "download.json").write_text(json.dumps(results, indent=2) + "\n")

    def line(name: str, r: dict[str, object]) -> str:
        lo, hi = r["candles_per_s_min_max"]  # type: ignore[misc]
        clo, chi = r["cpu_ms_per_1000_min_max"]  # type: ignore[misc]
        return (f"{name:<22} {r['candles_per_s']:>9,.0f} candles/s ({lo:,.0f}-{hi:,.0f})  {r['wall_s']:6.2f} s  "
                f"{r['requests']:.0f} requests, {r['requests_per_s']:.2f}/s  "
                f"CPU {r['cpu_ms_per_1000']:6.1f} ms per 1,000 candles ({clo:.1f}-{chi:.1f})")  # fmt: skip

    print(f"la download of {args.candles:,} 1m candles from la sim-exchange over loopback, median of {args.repeat}")
    print(line("at 9 req/s (venue 10)", limited))
    print(line("unlimited (baseline)", free))
    print(
        f"at the venue's rate: {rate_share:.0%} of the allowed requests/s sent; {share:.0%} of 9 x 200 candles/s "
        "(the rest are the listing's bisection and the first calls)"
    )
    print(f"our code alone is {results['unlimited_over_limited']:.1f}x faster than the rate allows")


if __name__ == "__main__":
    main()
