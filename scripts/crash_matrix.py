"""The kill-point crash matrix: SIGKILL the live-exchange daemon at every step of an order's life, resume,
and prove exactly-once against the simulated exchange.

    .venv/bin/python scripts/crash_matrix.py --kills 1000            # the long run (about 20 min on 2 cores)
    .venv/bin/python scripts/crash_matrix.py --kills 60 --modes open  # a quick one

For each client-id dedupe mode of the simulator (`forever`, `open`, `window`: how long the venue refuses a
repeated client id; the daemon must not rest on any of them), one run folder is started, then killed
again and again with `LA_CRASH_AT=<point>:<n>` (points: `intent`, `accepted`, `sent`, `booking`,
`reconcile`, `backfill`; see `laptop_agents/base/crash_points.py`) and resumed with `--resume`. Lost
acks (`drop_order_response_next`) and gaps (`skip_candles`) are switched on before every start, so every
point is reached; some starts also meet partial fills (`partial_fill_parts`) and fills pushed before the
order's answer (`fill_before_ack_next`). A last resume without a kill settles everything. Then, from
the venue's own records and the run's files:
- duplicates: venue orders per journaled intent above one, and fills booked twice: must be 0;
- lost: venue orders or fills of ours that the journal does not hold: must be 0;
- books: the daemon's last heartbeat position equals the venue's;
- stale entries: entries that reached the venue more than one interval after their candle closed: 0.
Exit 0 when all hold, 1 otherwise; one line per mode and a summary line (JSON with `--json`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.base.crash_points import POINTS
from laptop_agents.exchange.bitunix.sim import load_candles
from laptop_agents.exchange.bitunix.sim.server import SimAccountConfig, SimConfig, SimExchange

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "ftx_btc-perp_1m_2022-01.csv"
KEY, SECRET = "matrix-key", "matrix-secret-0123456789"
MODES = ("forever", "open", "window")
INTERVAL_MS = 60_000
MAX_AGE_MS = 300_000
"""`live.max_decision_age_s` here: at the simulator's 600x one interval is 100 ms of wall time, less than a
candle's confirmation round trip; five intervals are half a second. A resume's gap is an hour of market."""
STALE_SLACK_MS = 240_000
"""Market time an entry may take from the daemon's last check to the venue: at 600x, the limiter's token
wait and a lookup in flight (0.4 s of wall time) are 4 minutes of market."""


@dataclass
class ModeResult:
    mode: str
    kills: int = 0
    starts: int = 0
    unreached: int = 0
    """Starts whose crash point was not reached before `--duration` (they ended cleanly)."""
    points: dict[str, int] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    """Crash points not reached within a start, by point."""
    orders: int = 0
    fills: int = 0
    duplicates: int = 0
    lost: int = 0
    stale_entries: int = 0
    books_match: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class Venue:
    """One account's own records on the venue, the other side of the exactly-once check: its orders (client
    id, creation time), its executions and its positions (signed)."""

    orders: list[tuple[str, int]]
    fills: list[dict[str, Any]]
    positions: dict[str, float]

    @classmethod
    def of(cls, sim: SimExchange, key: str = KEY) -> Venue:
        """From a simulator in this process."""
        account = sim.ledger.accounts[key]
        orders = [(o.client_id, o.ctime) for o in account.orders.values()]
        return cls(orders, list(account.fills), {s: p.qty for s, p in account.positions.items()})

    @classmethod
    def of_ledger(cls, ledger: dict[str, Any]) -> Venue:
        """From a `la sim-exchange` process's `GET /admin/ledger?api_key=K` answer."""
        orders = [(str(o["clientId"]), int(o["ctime"])) for o in ledger["orders"]]
        return cls(orders, list(ledger["fills"]), {s: float(q) for s, q in ledger["positions"].items()})


def _la() -> list[str]:
    la = Path(sys.executable).with_name("la")
    return [str(la)] if la.exists() else [sys.executable, "-m", "laptop_agents.cli"]


def daemon_config(rest_url: str, ws_public_url: str, ws_private_url: str) -> dict[str, Any]:
    """The daemons' config: the simulator's URLs, limits out of the way, timers short, many trades."""
    return {
        "exchange": {"rest_url": rest_url, "ws_public_url": ws_public_url, "ws_private_url": ws_private_url,
                     "leverage": 10},
        "live": {"max_order_notional": 1e9, "max_position_notional": 1e9, "max_daily_loss": 1e9,
                 "max_daily_loss_pct": 100, "max_orders_per_minute": 1_000, "unknown_window_s": 2,
                 "lookup_interval_s": 0.2, "poll_interval_s": 0.5, "shutdown_timeout_s": 5,
                 "max_decision_age_s": MAX_AGE_MS / 1000},
        "run": {"heartbeat_interval_s": 0.5, "checkpoint_interval_s": 1},
        "circuit_breaker": {"enabled": False},
        "strategy": {"fast_sma": 3, "slow_sma": 8},
    }  # fmt: skip


async def _start(workdir: Path, args: list[str], crash: str | None, timeout_s: float) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITUNIX_", "LA_"))}
    env |= {"BITUNIX_API_KEY": KEY, "BITUNIX_API_SECRET": SECRET, "LA_CONFIG_DIR": str(REPO / "config")}
    if crash:
        env["LA_CRASH_AT"] = crash
    proc = await asyncio.create_subprocess_exec(
        *_la(), "run", "--mode", "live-exchange", "--confirm-live", "--config", str(workdir / "live.json"), *args,
        cwd=workdir, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
        return -999, f"did not exit within {timeout_s:g} s: {err.decode()[-300:]}"
    assert proc.returncode is not None
    return proc.returncode, err.decode()


def _records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def check(folder: Path, venue: Venue, result: ModeResult) -> None:
    """The exactly-once invariants, from the venue's records and the run's files (see the docstring)."""
    journal = _records(folder / "orders.jsonl")
    intents = {r["client_id"]: r for r in journal if r["op"] == "intent"}
    final: dict[str, str] = {}
    for record in journal:
        if record["op"] == "move":
            final[record["client_id"]] = record["state"]
    per_cid = Counter(cid for cid, _ in venue.orders if cid)
    result.orders = sum(per_cid.values())
    for cid, count in per_cid.items():
        if cid not in intents:
            result.lost += 1
            result.failures.append(f"venue order {cid} is not in the journal")
        elif count > 1:
            result.duplicates += count - 1
            result.failures.append(f"{count} venue orders for intent {cid}")
    for cid in intents:
        if per_cid.get(cid, 0) and final.get(cid) in ("REJECTED", "NOT_FOUND"):
            result.failures.append(f"intent {cid} is {final[cid]} in the journal but on the venue")
    booked = Counter(r["trade_id"] for r in journal if r["op"] in ("fill", "trade"))
    ours = [f for f in venue.fills if f["clientId"] in intents]
    result.fills = len(ours)
    for fill in ours:
        times = booked.get(fill["tradeId"], 0)
        if times == 0:
            result.lost += 1
            result.failures.append(f"venue fill {fill['tradeId']} of {fill['clientId']} is not booked")
    result.duplicates += sum(n - 1 for n in booked.values() if n > 1)
    for fill in venue.fills:  # an exchange TP/SL close of our position must be booked too
        if (
            not fill["clientId"]
            and fill["tradeId"] not in booked
            and fill["ctime"] >= min((int(r["meta"].get("decided_ts") or 0) for r in intents.values()), default=0)
        ):
            result.lost += 1
            result.failures.append(f"venue TP/SL fill {fill['tradeId']} is not booked")
    for cid, intent in intents.items():
        decided = intent["meta"].get("decided_ts")
        if intent["purpose"] != "entry" or decided is None:
            continue
        for ctime in (t for c, t in venue.orders if c == cid):
            if ctime - (int(decided) + INTERVAL_MS) > MAX_AGE_MS + STALE_SLACK_MS:
                result.stale_entries += 1
                result.failures.append(f"entry {cid} reached the venue {ctime - decided} ms after its candle")
    beat = orjson.loads((folder / "heartbeat.json").read_bytes())
    books = beat["positions"].get("BTCUSDT")
    signed_books = 0.0 if books is None else (books["qty"] if books["side"] == "long" else -books["qty"])
    signed_venue = venue.positions.get("BTCUSDT", 0.0)
    result.books_match = abs(signed_books - signed_venue) < 1e-9
    if not result.books_match:
        result.failures.append(f"books hold {signed_books:g} BTCUSDT, the venue {signed_venue:g}")


async def _faults_later(sim: SimExchange, point: str) -> None:
    """Once the daemon trades: a gap of 3 candles in the stream, or another lost ack."""
    await asyncio.sleep(3.0)
    if point == "backfill":
        sim.faults.update({"skip_candles": 3})
    elif point == "accepted":
        sim.faults.update({"drop_order_response_next": 1})


async def run_mode(mode: str, kills: int, workdir: Path, rng: random.Random, duration_s: float) -> ModeResult:
    """One run folder killed `kills` times at random points under one dedupe mode (a start whose point
    did not come before its duration ends cleanly and does not count), then checked."""
    result = ModeResult(mode)
    candles = load_candles(DATA)
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    config = SimConfig(speed=600.0, start_index=300, accounts=[SimAccountConfig(KEY, SECRET, 100_000.0)])
    async with SimExchange(config, {"BTCUSDT": candles}) as sim:
        sim.faults.update({"client_id_dedupe": mode, "client_id_dedupe_window_s": 5.0})
        (workdir / "live.json").write_bytes(
            orjson.dumps(daemon_config(sim.rest_url, sim.ws_public_url, sim.ws_private_url))
        )
        started = False
        while result.kills < kills and result.starts < 2 * kills + 5:
            # the point killed least so far (ties drawn at random): the kills spread evenly over the points
            point = min(POINTS, key=lambda p: (result.points.get(p, 0), rng.random()))
            # the start that is to die with its ack lost meets lost acks, the one that is to die in a
            # backfill a gap in the stream (besides the one its downtime left); points that come once per
            # start are taken at once
            if point == "accepted":
                sim.faults.update({"drop_order_response_next": 1})
            # some starts meet orders filled in parts, and fills pushed before the placement is answered
            sim.faults.update(
                {"partial_fill_parts": rng.choice((0, 0, 2, 3)), "fill_before_ack_next": rng.randint(0, 1)}
            )
            once = point in ("accepted", "reconcile", "backfill")
            crash = f"{point}:{1 if once else rng.randint(1, 3)}"
            run = ["--resume", "r"] if started else ["--run-id", "r"]
            later = asyncio.create_task(_faults_later(sim, point))
            try:
                code, err = await _start(workdir, [*run, "--duration", f"{duration_s:g}"], crash, duration_s + 40)
            finally:
                later.cancel()
            started = started or (workdir / "runs" / "r").exists()
            result.starts += 1
            if code == -signal.SIGKILL:
                result.kills += 1
                result.points[point] = result.points.get(point, 0) + 1
            elif code == 0:
                result.unreached += 1
                result.missed[point] = result.missed.get(point, 0) + 1
            else:
                result.failures.append(f"start {result.starts} ({crash}) exited {code}: {err.strip()[-300:]}")
                break
        # the settling resume runs on a frozen market: no venue TP/SL can fire after its last sync, so the
        # venue's records and the run's files describe the same moment
        sim.hub.pause()
        code, err = await _start(workdir, ["--resume", "r", "--duration", "6"], None, 60)
        result.starts += 1
        if code != 0:
            result.failures.append(f"the settling resume exited {code}: {err.strip()[-300:]}")
        else:
            check(workdir / "runs" / "r", Venue.of(sim), result)
    return result


async def run_matrix(
    kills: int, *, workdir: Path, seed: int = 20261201, modes: tuple[str, ...] = MODES, duration_s: float = 8.0
) -> list[ModeResult]:
    """The modes run side by side (one simulator and one chain of daemons each), each with its own seeded
    random choices, so a mode's kills do not depend on how the others went."""
    share = [kills // len(modes) + (1 if i < kills % len(modes) else 0) for i in range(len(modes))]
    runs = [
        run_mode(m, n, workdir / m, random.Random(f"{seed}-{m}"), duration_s) for m, n in zip(modes, share, strict=True)
    ]
    return list(await asyncio.gather(*runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=60, help="kills in all, spread over the modes")
    parser.add_argument("--modes", default=",".join(MODES), help="client-id dedupe modes of the simulator")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds each start may run before a kill")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the run folders here")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line")
    args = parser.parse_args(argv)
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="crash-matrix-"))
    began = time.monotonic()
    results = asyncio.run(run_matrix(args.kills, workdir=workdir, seed=args.seed, modes=modes,
                                     duration_s=args.duration))  # fmt: skip
    for r in results:
        print(f"{r.mode:<8} kills {r.kills} (unreached {r.unreached}) orders {r.orders} fills {r.fills} "
              f"duplicates {r.duplicates} lost {r.lost} stale entries {r.stale_entries} "
              f"books {'match' if r.books_match else 'DIFFER'} points {dict(sorted(r.points.items()))} "
              f"missed {dict(sorted(r.missed.items()))}")  # fmt: skip
        for failure in r.failures[:10]:
            print(f"  FAIL {failure}")
    total = {k: sum(getattr(r, k) for r in results) for k in ("kills", "orders", "fills", "duplicates", "lost",
                                                              "stale_entries")}  # fmt: skip
    ok = all(r.ok for r in results)
    print(f"{'PASS' if ok else 'FAIL'} {total} in {time.monotonic() - began:.0f} s; run folders in {workdir}")
    if args.json:
        print(orjson.dumps({"ok": ok, "total": total, "modes": [asdict(r) for r in results]}).decode())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
