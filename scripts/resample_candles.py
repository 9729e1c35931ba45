"""Resample a candle CSV (`ts,open,high,low,close,volume`, ts the open time in epoch ms) to a longer interval.

    python scripts/resample_candles.py data/ftx_btc-perp_1m_2022-01.csv data/ftx_btc-perp_15m_2022-01.csv --interval 15m

Each output candle is one UTC bucket of the interval: the first open, the highest high, the lowest low, the
last close and the summed volume. A bucket missing any of its source candles (the data's first and last,
or across a gap) is left out, so no output candle is made of less than it claims.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from laptop_agents.core.candle import interval_ms


def resample(source: Path, target: Path, interval: str) -> tuple[int, int]:
    step = interval_ms(interval)
    buckets: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    source_step = 0
    previous = None
    with source.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            ts = int(row["ts"])
            if previous is not None and not source_step:
                source_step = ts - previous
            previous = ts
            o, h, lo, c, v = (float(row[k]) for k in ("open", "high", "low", "close", "volume"))
            bucket = ts - ts % step
            agg = buckets.get(bucket)
            if agg is None:
                buckets[bucket], counts[bucket] = [o, h, lo, c, v], 1
            else:
                agg[1], agg[2], agg[3], agg[4] = max(agg[1], h), min(agg[2], lo), c, agg[4] + v
                counts[bucket] += 1
    per_bucket = step // source_step if source_step else 1
    kept = [b for b in sorted(buckets) if counts[b] == per_bucket]
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("ts", "open", "high", "low", "close", "volume"))
        for b in kept:
            o, h, lo, c, v = buckets[b]
            writer.writerow((b, o, h, lo, c, round(v, 6)))
    return len(kept), len(buckets) - len(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--interval", required=True, help="the output interval, e.g. 15m, 1h")
    args = parser.parse_args()
    written, dropped = resample(args.source, args.target, args.interval)
    print(
        f"{args.target}: {written:,} {args.interval} candles ({dropped} incomplete buckets left out)", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
