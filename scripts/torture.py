"""Torture: random SIGKILLs of a live-paper and a live-exchange daemon against one `la sim-exchange` process
with random faults switched on, each kill followed by `--resume`; then the run files, the order journal and
the simulator's ledger are checked.

    .venv/bin/python scripts/torture.py --kills 1000   # the long run (about an hour on 2 cores)
    .venv/bin/python scripts/torture.py --kills 60     # what make test runs (tests/stress/test_torture.py)

Two chains run side by side, each killing its own run folder again and again: `paper` (live-paper on the
public stream) and `exchange` (live-exchange, orders on the simulator's demo account). Unlike
scripts/crash_matrix.py, which kills at named steps of an order's life, a kill here comes at a random moment:
one start in five during its start-up (preflight, reconciliation, the resume's backfill), the others a
random time after its heartbeat says it runs. Before each start and at random moments while it runs, random
faults are switched on at the simulator: lost acks, partial fills, fills before the answer, client ids
deduplicated only while open or for a window, transient not-found, gaps, duplicate, reordered and
malformed frames, lost final pushes, dropped sockets, rate-limit answers and 503s. After the last kill the
market is paused and each chain resumes once more, to settle. Then:
- torn: a checkpoint or heartbeat unreadable after a kill, or, after the settle, a line of events.jsonl,
  orders.jsonl, trades.csv or equity.csv that does not parse, or an event sequence with a hole: must be 0
  (a half-written last line of an append-only file after a kill is counted as `cut tails`: the resume cuts
  it off at the checkpoint);
- exchange: duplicates (venue orders per journaled intent above one, fills booked twice) and lost (venue
  orders or fills the journal does not hold) must be 0, the books must equal the venue's position, no
  entry may reach the venue on a stale candle (scripts/crash_matrix.py `check`);
- paper: each candle once in equity.csv, the trades equal to a backtest of the same candles (a separate
  `la run --mode backtest`), and `la replay` finding every decision identical.
Exit 0 when all hold, 1 otherwise; one line per chain and a summary line (JSON with `--json`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import re
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import crash_matrix  # scripts/ is not a package: the exactly-once check lives there

from laptop_agents.core.errors import CheckpointError
from laptop_agents.exchange.bitunix.sim import load_candles
from laptop_agents.runs.checkpoint import read_checkpoint

REPO = crash_matrix.REPO
DATA = crash_matrix.DATA
KEY, SECRET = crash_matrix.KEY, crash_matrix.SECRET
CHAINS = ("paper", "exchange")
PAPER = {
    "circuit_breaker": {"enabled": False},
    "strategy": {"fast_sma": 3, "slow_sma": 8, "atr_period": 14},
}
"""What the paper daemon and its backtest share: the breaker off and short averages, for many trades."""
WARMUP = max(PAPER["strategy"]["slow_sma"], PAPER["strategy"]["atr_period"])
"""The candles before the paper run's first one that the daemon warmed up on (SmaAtr.warmup_candles): the
backtest is given them too, so that its ATR has the same history."""


@dataclass
class ChainResult:
    chain: str
    kills: int = 0
    early_kills: int = 0
    """Kills during start-up, before the heartbeat said the daemon runs."""
    starts: int = 0
    torn: int = 0
    cut_tails: int = 0
    """Half-written last lines of append-only files found after a kill (the resume cuts them off)."""
    candles: int = 0
    trades: int = 0
    orders: int = 0
    fills: int = 0
    duplicates: int = 0
    lost: int = 0
    stale_entries: int = 0
    books_match: bool = False
    trades_match: bool = False
    replay_identical: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class Sim:
    """The `la sim-exchange` process and its URLs."""

    proc: asyncio.subprocess.Process
    rest: str
    ws_public: str
    ws_private: str
    http: aiohttp.ClientSession

    async def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        method = "GET" if path in ("state", "ledger") else "POST"
        params = {"api_key": KEY} if path == "ledger" else None
        async with self.http.request(method, f"{self.rest}/admin/{path}", json=body, params=params) as reply:
            reply.raise_for_status()
            return await reply.json()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITUNIX_", "LA_"))}
    return env | {"BITUNIX_API_KEY": KEY, "BITUNIX_API_SECRET": SECRET, "LA_CONFIG_DIR": str(REPO / "config")}


async def start_sim(workdir: Path, speed: float) -> asyncio.subprocess.Process:
    accounts = workdir / "accounts.json"
    accounts.write_bytes(orjson.dumps([{"api_key": KEY, "secret": SECRET, "balance": 100_000.0}]))
    return await asyncio.create_subprocess_exec(
        *crash_matrix._la(), "sim-exchange", "--port", "0", "--speed", f"{speed:g}", "--data", str(DATA),
        "--accounts", str(accounts), "--rest-rate", "50",
        env=_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def _urls(ready: str) -> tuple[str, str, str]:
    found = re.search(r"REST (\S+)\s+WS (\S+) (\S+)", ready)
    if not ready.startswith("sim-exchange ready") or found is None:
        raise RuntimeError(f"la sim-exchange did not start: {ready!r}")
    return found.group(1), found.group(2), found.group(3)


def chain_config(chain: str, sim: Sim) -> dict[str, Any]:
    if chain == "exchange":
        return crash_matrix.daemon_config(sim.rest, sim.ws_public, sim.ws_private)
    return {
        **PAPER,
        # confirmed candles, as live-exchange has them: the simulator loses final pushes on purpose, and a
        # live-paper run that trades the pushed candle then differs from the backtest (la replay names it)
        "exchange": {"rest_url": sim.rest, "ws_public_url": sim.ws_public, "confirm_candles": "on"},
        "run": {"heartbeat_interval_s": 0.5, "checkpoint_interval_s": 0.5},
        "data": {"stale_after_intervals": 1000},
    }


# -- faults ---------------------------------------------------------------------------------------------------


def start_faults(chain: str, rng: random.Random) -> dict[str, Any]:
    """What a start meets from its first request: an exchange start its order faults, a paper start a gap."""
    if chain == "exchange":
        return {
            "client_id_dedupe": rng.choice(("forever", "open", "window")), "client_id_dedupe_window_s": 5.0,
            "drop_order_response_next": rng.randint(0, 1), "partial_fill_parts": rng.choice((0, 0, 2, 3)),
            "fill_before_ack_next": rng.randint(0, 1), "not_found_for_s": rng.choice((0.0, 0.0, 0.5)),
        }  # fmt: skip
    return {"skip_candles": rng.choice((0, 2, 5))}


def running_fault(rng: random.Random) -> dict[str, Any] | None:
    """One fault switched on while the daemons run (None: drop every socket)."""
    choices: list[dict[str, Any] | None] = [
        None,
        {"skip_candles": rng.randint(2, 6)},
        {"duplicate_pushes": rng.randint(1, 20)},
        {"reorder_pushes": rng.randint(1, 8)},
        {"malformed_frames": rng.randint(1, 20)},
        {"drop_final_push_next": rng.randint(1, 3)},
        {"rate_limit_next": rng.randint(1, 3)},
        {"http_error_next": 1, "http_error_status": 503},
        {"drop_order_response_next": 1},
        {"fill_before_ack_next": 1},
        {"partial_fill_parts": rng.choice((0, 2, 3))},
    ]
    return rng.choice(choices)


async def fault_storm(sim: Sim, rng: random.Random, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(0.5, 3.0))
        except TimeoutError:
            fault = running_fault(rng)
            await (sim.admin("drop") if fault is None else sim.admin("faults", fault))


# -- one chain ------------------------------------------------------------------------------------------------


def _beat(folder: Path) -> dict[str, Any]:
    try:
        return orjson.loads((folder / "heartbeat.json").read_bytes())  # type: ignore[no-any-return]
    except FileNotFoundError:
        return {}


async def _runs(folder: Path, pid: int, proc: asyncio.subprocess.Process, within_s: float) -> bool:
    """Wait until the heartbeat is this process's and says it runs; False when it exited or took too long."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and proc.returncode is None:
        try:
            beat = _beat(folder)
        except orjson.JSONDecodeError:
            beat = {}  # heartbeat.json is replaced atomically: this is checked after each kill instead
        if beat.get("pid") == pid and beat.get("state") in ("running", "degraded", "halted"):
            return True
        await asyncio.sleep(0.05)
    return False


async def _daemon(workdir: Path, chain: str, args: list[str]) -> asyncio.subprocess.Process:
    mode = ["--mode", "live-exchange", "--confirm-live"] if chain == "exchange" else ["--mode", "live-paper"]
    return await asyncio.create_subprocess_exec(
        *crash_matrix._la(), "run", *mode, "--config", str(workdir / "config.json"), *args,
        cwd=workdir, env=_env(), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def after_kill(folder: Path, result: ChainResult) -> None:
    """What a SIGKILL may leave: the atomically replaced files whole, append-only files perhaps cut mid-line."""
    if (folder / "state.json").exists():
        try:
            read_checkpoint(folder / "state.json")
        except CheckpointError as exc:
            result.torn += 1
            result.failures.append(f"after kill {result.kills}: state.json unreadable: {exc}")
    try:
        _beat(folder)
    except orjson.JSONDecodeError:
        result.torn += 1
        result.failures.append(f"after kill {result.kills}: heartbeat.json is not JSON")
    for name in ("events.jsonl", "orders.jsonl", "trades.csv", "equity.csv"):
        path = folder / name
        if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            result.cut_tails += 1


async def run_chain(chain: str, kills: int, workdir: Path, sim: Sim, rng: random.Random) -> ChainResult:
    """One run folder killed `kills` times (a start that exits by itself before its kill is a failure)."""
    result = ChainResult(chain)
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    (workdir / "config.json").write_bytes(orjson.dumps(chain_config(chain, sim)))
    folder = workdir / "runs" / chain
    while result.kills < kills:
        await sim.admin("faults", start_faults(chain, rng))
        args = ["--resume", chain] if folder.exists() else ["--run-id", chain]
        proc = await _daemon(workdir, chain, [*args, "--duration", "120"])
        result.starts += 1
        early = rng.random() < 0.2
        if early:
            await asyncio.sleep(rng.uniform(0.3, 2.5))
        elif await _runs(folder, proc.pid, proc, 60):
            await asyncio.sleep(rng.uniform(0.1, 3.0))
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        _, err = await proc.communicate()
        if proc.returncode != -signal.SIGKILL:
            result.failures.append(f"start {result.starts} exited {proc.returncode}: {err.decode().strip()[-400:]}")
            return result
        result.kills += 1
        result.early_kills += early
        after_kill(folder, result)
    return result


async def settle(chain: str, workdir: Path, result: ChainResult) -> None:
    """The last resume, on a paused market, ended by its duration."""
    if not result.ok:
        return
    proc = await _daemon(workdir, chain, ["--resume", chain, "--duration", "6"])
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 90)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
    if proc.returncode != 0:
        result.failures.append(f"the settling resume exited {proc.returncode}: {err.decode().strip()[-400:]}")


# -- checks ---------------------------------------------------------------------------------------------------


def check_files(folder: Path, result: ChainResult) -> None:
    """After the settle every line of every file parses and the events are one unbroken sequence."""
    seqs: list[int] = []
    for name in ("events.jsonl", "orders.jsonl"):
        path = folder / name
        for number, line in enumerate(path.read_bytes().splitlines() if path.exists() else [], 1):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                result.torn += 1
                result.failures.append(f"{name} line {number} does not parse: {line[:80]!r}")
                continue
            if name == "events.jsonl":
                seqs.append(int(record["seq"]))
    if seqs != list(range(1, len(seqs) + 1)):
        result.torn += 1
        result.failures.append(f"events.jsonl's sequence has holes or repeats ({len(seqs)} events)")
    for name in ("trades.csv", "equity.csv"):
        with (folder / name).open(newline="") as handle:
            rows = list(csv.reader(handle))
        bad = [n for n, row in enumerate(rows[1:], 2) if len(row) != len(rows[0])]
        if bad:
            result.torn += len(bad)
            result.failures.append(f"{name} lines {bad[:5]} do not have the header's {len(rows[0])} columns")
    for name in ("state.json", "heartbeat.json"):
        try:
            read_checkpoint(folder / name) if name == "state.json" else orjson.loads((folder / name).read_bytes())
        except (CheckpointError, orjson.JSONDecodeError, OSError) as exc:
            result.torn += 1
            result.failures.append(f"{name} after the settle: {exc}")


def _trades(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["exit_reason"] != "end"]


async def check_paper(workdir: Path, result: ChainResult) -> None:
    """Each candle once, the trades a backtest of the same candles makes, and `la replay` identical."""
    folder = workdir / "runs" / "paper"
    with (folder / "equity.csv").open(newline="") as handle:
        equity_ts = [int(row["ts"]) for row in csv.DictReader(handle)]
    candles = load_candles(DATA)
    index = {c.ts: i for i, c in enumerate(candles)}
    first = index.get(equity_ts[0], -1) if equity_ts else -1
    result.candles = len(equity_ts)
    if first < WARMUP or equity_ts != [c.ts for c in candles[first : first + len(equity_ts)]]:
        result.failures.append("equity.csv does not hold each candle once, in order")
        return
    with (workdir / "slice.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ts", "open", "high", "low", "close", "volume"])
        writer.writerows(c.as_tuple() for c in candles[first - WARMUP : first + len(equity_ts)])
    (workdir / "backtest.json").write_bytes(orjson.dumps({**PAPER, "data": {"source": f"csv:{workdir / 'slice.csv'}"}}))
    code, out = await _run(workdir, "run", "--mode", "backtest", "--config", "backtest.json", "--run-id", "backtest")
    if code != 0:
        result.failures.append(f"the backtest exited {code}: {out[-400:]}")
        return
    live, backtest = _trades(folder / "trades.csv"), _trades(workdir / "runs" / "backtest" / "trades.csv")
    result.trades = len(live)
    result.trades_match = live == backtest
    if not result.trades_match:
        diverge = next((i for i, (a, b) in enumerate(zip(live, backtest, strict=False)) if a != b), None)
        result.failures.append(f"{len(live)} paper trades, the backtest {len(backtest)}; first difference: {diverge}")
    code, out = await _run(workdir, "replay", str(folder))
    result.replay_identical = code == 0 and out.strip().splitlines()[-1].startswith("identical: ")
    if not result.replay_identical:
        result.failures.append(f"la replay: {out.strip()[-400:]}")


async def _run(workdir: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *crash_matrix._la(), *args, cwd=workdir, env=_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode or 0, out.decode()


def check_exchange(workdir: Path, ledger: dict[str, Any], result: ChainResult) -> None:
    matrix = crash_matrix.ModeResult("exchange")
    crash_matrix.check(workdir / "runs" / "exchange", crash_matrix.Venue.of_ledger(ledger), matrix)
    result.orders, result.fills, result.books_match = matrix.orders, matrix.fills, matrix.books_match
    result.duplicates, result.lost, result.stale_entries = matrix.duplicates, matrix.lost, matrix.stale_entries
    result.failures += matrix.failures


# -- the whole torture ----------------------------------------------------------------------------------------


async def torture(
    kills: int, *, workdir: Path, seed: int = 20261203, speed: float = 600.0
) -> tuple[list[ChainResult], dict[str, int]]:
    """Both chains side by side against one simulator, then the settle and the checks; also the simulator's
    count of each fault it fired."""
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    proc = await start_sim(workdir, speed)
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            line = (await proc.stderr.read()).decode()
        rest, ws_public, ws_private = _urls(line)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            sim = Sim(proc, rest, ws_public, ws_private, http)
            stop = asyncio.Event()
            storm = asyncio.create_task(fault_storm(sim, random.Random(f"{seed}-storm"), stop))
            shares = {"paper": kills // 2, "exchange": kills - kills // 2}
            try:
                results = await asyncio.gather(
                    *(run_chain(c, shares[c], workdir / c, sim, random.Random(f"{seed}-{c}")) for c in CHAINS)
                )
            finally:
                stop.set()
                await storm
            await sim.admin("pause")  # nothing fires after the settles' last sync: files and venue agree
            await sim.admin("faults", {"partial_fill_parts": 0, "not_found_for_s": 0.0})
            await asyncio.gather(*(settle(r.chain, workdir / r.chain, r) for r in results))
            state = await sim.admin("state")
            ledger = await sim.admin("ledger")
            for r in results:
                if r.ok:
                    check_files(workdir / r.chain / "runs" / r.chain, r)
            paper, exchange = results
            if paper.ok:
                await check_paper(workdir / "paper", paper)
            if exchange.ok:
                check_exchange(workdir / "exchange", ledger, exchange)
            return list(results), dict(state["faults"].get("counts", {}))
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.communicate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=60, help="kills in all, half of them of each chain")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--speed", type=float, default=600.0, help="the simulator's market time per wall time")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the run folders here")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="torture-"))
    began = time.monotonic()
    results, faults = asyncio.run(torture(args.kills, workdir=workdir, seed=args.seed, speed=args.speed))
    for r in results:
        print(f"{r.chain:<8} kills {r.kills} (in start-up {r.early_kills}) torn {r.torn} cut tails {r.cut_tails} "
              f"candles {r.candles} trades {r.trades} orders {r.orders} fills {r.fills} duplicates {r.duplicates} "
              f"lost {r.lost} stale entries {r.stale_entries} "
              + (f"books {'match' if r.books_match else 'DIFFER'}" if r.chain == "exchange" else
                 f"trades {'= backtest' if r.trades_match else 'DIFFER'} replay "
                 f"{'identical' if r.replay_identical else 'DIFFERS'}"))  # fmt: skip
        for failure in r.failures[:10]:
            print(f"  FAIL {failure}")
    total = {k: sum(getattr(r, k) for r in results) for k in ("kills", "torn", "orders", "fills", "duplicates",
                                                              "lost", "stale_entries")}  # fmt: skip
    ok = all(r.ok for r in results)
    print(f"faults fired: {dict(sorted(faults.items()))}")
    print(f"{'PASS' if ok else 'FAIL'} {total} in {time.monotonic() - began:.0f} s; run folders in {workdir}")
    if args.json:
        print(orjson.dumps({"ok": ok, "total": total, "faults": faults,
                            "chains": [asdict(r) for r in results]}).decode())  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
