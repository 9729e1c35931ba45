#!/usr/bin/env python3
"""A compact live view of a run: tails runs/<id>/events.jsonl and prints time, event and key fields.

python scripts/monitor.py runs/latest            # follow (Ctrl-C to quit)
python scripts/monitor.py runs/latest --once     # print what is there and exit
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

SKIP = {"v", "seq", "run_id", "event", "ts_init", "ts_event", "wall_ts", "ts", "symbol", "indicators"}


def line(record: dict[str, object]) -> str:
    ts = record.get("ts_event", record.get("ts"))  # v1 lines wrote `ts`
    when = datetime.fromtimestamp(int(ts) / 1000, tz=UTC).strftime("%m-%d %H:%M") if isinstance(ts, int) and ts else "-"
    fields = " ".join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in record.items()
        if k not in SKIP and v is not None
    )
    return f"{when}  {record.get('event', '?'):<22} {record.get('symbol', '')} {fields}"[:200]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder (e.g. runs/latest)")
    parser.add_argument("--once", action="store_true", help="print the events so far and exit")
    args = parser.parse_args()
    path = Path(args.run) / "events.jsonl"
    if not path.exists():
        print(f"monitor: {path} not found", file=sys.stderr)
        return 2
    with path.open("rb") as handle:
        while True:
            raw = handle.readline()
            if raw.endswith(b"\n"):
                try:
                    print(line(orjson.loads(raw)), flush=True)
                except orjson.JSONDecodeError:
                    print(f"(unreadable line: {raw[:60]!r})")
                continue
            if args.once:
                return 0
            handle.seek(handle.tell() - len(raw))  # a line still being written: read it again later
            time.sleep(0.5)


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (BrokenPipeError, KeyboardInterrupt):  # piped into head, or Ctrl-C: not an error
        sys.exit(0)
