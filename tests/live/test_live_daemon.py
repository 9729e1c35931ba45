"""The live-exchange daemon as a user runs it: `la run --mode live-exchange` in a subprocess against the
simulated exchange (in this process, on loopback, replaying at 600x).

- kill -9 at each step of an order's path (intent fsynced / answer received, not journaled), then
  `--resume`: exactly one exchange order exists for that intent;
- a whole session under faults (a lost ack, rate limits, 5xx, dropped sockets, malformed frames) leaves
  the API secret and every request signature in no file of the run, no output line and no event.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.replay.command import replay_run
from tests.exchange.conftest import KEY, SECRET, bundled_candles, eventually, sim_config
from tests.helpers import read_events

LA = Path(sys.executable).with_name("la")
KEYS = {"BITUNIX_API_KEY": KEY, "BITUNIX_API_SECRET": SECRET}

pytestmark = pytest.mark.slow


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(sim_config(speed=600.0, start_index=300), {"BTCUSDT": bundled_candles()}) as exchange:
        exchange.faults.client_id_dedupe = "open"  # a filled order's client id is accepted again: no goodwill
        yield exchange


def write_config(tmp_path: Path, sim: SimExchange) -> Path:
    config = {
        "exchange": {"rest_url": sim.rest_url, "ws_public_url": sim.ws_public_url,
                     "ws_private_url": sim.ws_private_url, "leverage": 10},
        "live": {"max_order_notional": 60_000, "max_position_notional": 60_000, "unknown_window_s": 3,
                 "lookup_interval_s": 0.2, "poll_interval_s": 0.5,
                 # at 600x one interval is 100 ms of wall time, less than a candle's confirmation round trip
                 "max_decision_age_s": 300},
        "run": {"heartbeat_interval_s": 0.5, "checkpoint_interval_s": 1},
    }  # fmt: skip
    path = tmp_path / "live.json"
    path.write_bytes(orjson.dumps(config))
    return path


def start(tmp_path: Path, *args: str, env: dict[str, str] | None = None, quiet: bool = False) -> Any:
    """`la run --mode live-exchange --confirm-live --config live.json ARGS` in `tmp_path`, with the demo keys
    and no `LA_*`/`BITUNIX_*` variable of this process; output piped (or dropped when `quiet`)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BITUNIX_", "LA_"))}
    command = [str(LA)] if LA.exists() else [sys.executable, "-m", "laptop_agents.cli"]
    output = asyncio.subprocess.DEVNULL if quiet else asyncio.subprocess.PIPE
    return asyncio.create_subprocess_exec(
        *command, "run", "--mode", "live-exchange", "--confirm-live", "--config", str(tmp_path / "live.json"),
        *args, cwd=tmp_path, env={**base, **KEYS, **(env or {})}, stdout=output, stderr=output,
    )  # fmt: skip


async def la(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 90
) -> tuple[int, str, str]:
    proc = await start(tmp_path, *args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def journal(folder: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in (folder / "orders.jsonl").read_bytes().splitlines()]


def final_states(folder: Path) -> dict[object, object]:
    """Each journaled order's last state, by client id."""
    return {r["client_id"]: r["state"] for r in journal(folder) if r["op"] == "move"}


def stale_entries(folder: Path, sim: SimExchange, *, max_age_ms: int = 300_000, slack_ms: int = 240_000) -> list[str]:
    """Entries that reached the venue later than `max_age_ms` (the config's `live.max_decision_age_s`)
    after their candle closed (venue time: the simulator stamps an order with its replay clock);
    `slack_ms` covers the wait between the check and the send (at 600x, 0.4 s of wall time are 4 minutes
    of market time). A resume's gap is an hour of market."""
    decided = {
        r["client_id"]: int(r["meta"]["decided_ts"])  # type: ignore[index, call-overload]
        for r in journal(folder)
        if r["op"] == "intent" and r["purpose"] == "entry"
    }
    orders = sim.ledger.accounts[KEY].orders.values()
    return [o.client_id for o in orders if o.client_id in decided
            and o.ctime - (decided[o.client_id] + 60_000) > max_age_ms + slack_ms]  # fmt: skip


@pytest.mark.parametrize("point", ["intent:1", "sent:1", "sent:2"])
async def test_kill_9_in_the_order_path_then_resume_leaves_exactly_one_order_per_intent(
    tmp_path: Path, sim: SimExchange, point: str
) -> None:
    write_config(tmp_path, sim)
    code, _, err = await la(tmp_path, "--run-id", "r", "--duration", "60", env={"LA_CRASH_AT": point})
    assert code == -signal.SIGKILL, err  # it died at the crash point, as kill -9 would kill it
    folder = tmp_path / "runs" / "r"
    intents = [r["client_id"] for r in journal(folder) if r["op"] == "intent"]
    crashed = intents[-1]  # the order whose step was cut
    moves = [r["state"] for r in journal(folder) if r["op"] == "move" and r["client_id"] == crashed]
    assert moves == ([] if point.startswith("intent") else ["SENT"])
    code, out, err = await la(tmp_path, "--resume", "r", "--duration", "6")
    assert code == 0, err
    account = sim.ledger.accounts[KEY]
    final = final_states(folder)
    for cid in intents:  # every intent, the cut one included, is one exchange order, or none if never sent
        placed = sum(1 for o in account.orders.values() if o.client_id == cid)
        assert placed == (0 if final[cid] == "REJECTED" else 1), cid
    if point.startswith("intent"):
        # never sent before the crash; after it, sent only while its candle is young enough (at 600x the
        # restart takes many candles: refused as stale_decision, never sent on an old close)
        assert final[crashed] in ("FILLED", "ACKED", "REJECTED")
        if final[crashed] == "REJECTED":
            events = [orjson.loads(x) for x in (folder / "events.jsonl").read_bytes().splitlines()]
            refused = [e for e in events if e["event"] == "OrderRejected" and e.get("client_order_id") == crashed]
            reasons = {e["reason"] for e in refused}  # a decision the resumed core made again: client_id_used
            assert "stale_decision" in reasons and reasons <= {"stale_decision", "client_id_used"}
    else:
        assert final[crashed] in ("FILLED", "ACKED")  # resolved by lookup, not retried under a new id
    if point.startswith("sent"):  # looked up by client id, never sent again (the venue would take a copy)
        assert sim.faults.counts.get("client_id_reused", 0) == 0
        every_intent = [r["client_id"] for r in journal(folder) if r["op"] == "intent"]  # the resumed run's too
        assert len(sim.requests_to("/trade/place_order")) == len(every_intent)
    assert stale_entries(folder, sim) == []  # nothing was entered on the candles the resume caught up on
    # the books agree with the exchange: the resumed session reconciled without adopting anything
    events = [orjson.loads(x) for x in (folder / "events.jsonl").read_bytes().splitlines()]
    assert not [e for e in events if e["event"] == "Reconciled" and e["action"] in ("adopted", "adjusted")]
    assert "Live-exchange session" in out
    replayed = replay_run(folder)  # both sessions, the books rebuilt from the journal at the resume included
    assert replayed.identical, replayed.divergence
    replayed = replay_run(folder, from_checkpoint=True)
    assert replayed.identical, replayed.divergence


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def dashboard_pages(url: str, run: str) -> list[str]:
    """Once the daemon's dashboard answers (mid-session), every page, API reply, /metrics and a moment of SSE."""
    from aiohttp import ClientError, ClientSession, ClientTimeout

    paths = ["/", f"/runs/{run}", "/api/runs", "/api/status", "/api/positions", "/api/orders", "/api/trades",
             "/api/equity", "/api/log", "/api/recent", "/metrics", "/static/dashboard.js"]  # fmt: skip
    async with ClientSession(timeout=ClientTimeout(total=10)) as http:
        for _ in range(200):
            try:
                async with http.get(url + "/api/status") as reply:
                    if reply.status == 200 and (await reply.json())["candles"] > 3:
                        break
            except (ClientError, OSError):
                pass
            await asyncio.sleep(0.1)
        await asyncio.sleep(4)  # a few orders into the session
        texts = []
        for path in paths:
            async with http.get(url + path) as reply:
                assert reply.status == 200, path
                texts.append(await reply.text())
        async with http.get(url + "/api/events") as stream:
            texts.append((await asyncio.wait_for(stream.content.read(20_000), 5)).decode())
    return texts


async def test_a_faulty_session_leaks_no_secret_and_no_signature(tmp_path: Path, sim: SimExchange) -> None:
    write_config(tmp_path, sim)
    sim.faults.update({"drop_order_response_next": 1, "malformed_frames": 2, "drop_every_s": 4.0})

    async def more_faults() -> None:
        await asyncio.sleep(3)
        sim.faults.update({"rate_limit_next": 2, "http_error_next": 1})
        await asyncio.sleep(3)
        sim.faults.update({"rate_limit_next": 1})

    faults = asyncio.create_task(more_faults())
    port = free_port()
    pages = asyncio.create_task(dashboard_pages(f"http://127.0.0.1:{port}", "s"))
    # a quick strategy: every 4 s a dropped socket means a backfill, and entries wait while it lasts
    quick = ("--set", "strategy.fast_sma=3", "--set", "strategy.slow_sma=8")
    shown = ("--dashboard", "--set", f"dashboard.port={port}")
    code, out, err = await la(tmp_path, "--run-id", "s", "--duration", "16", "--flatten-on-stop", *quick, *shown)
    await faults
    assert code == 0, err
    served = await pages  # every page and API reply of the dashboard, /metrics and the events stream
    assert len(served) >= 10 and '"mode":"live-exchange"' in served[3]
    assert sim.faults.counts.get("drop_order_response_next") == 1 and sim.faults.counts.get("rate_limit_next")
    signatures = {r.signature for r in sim.requests if r.signature}
    assert len(signatures) > 20  # many signed requests were made, orders among them
    assert any(r.path.endswith("/trade/place_order") for r in sim.requests)
    files = [p for p in (tmp_path / "runs" / "s").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"events.jsonl", "orders.jsonl", "state.json", "heartbeat.json", "summary.html"}
    everything = out + err + "".join(p.read_text(errors="replace") for p in files) + "".join(served)
    assert SECRET not in everything
    assert not [s for s in signatures if s in everything]
    code, printed, _ = await la(tmp_path, "--print-config")
    assert code == 0 and SECRET not in printed and KEY not in printed
    positions = sim.ledger.accounts[KEY].positions
    assert not positions  # --flatten-on-stop closed what was open


async def test_sigterm_with_an_order_send_in_flight_exits_within_10_s_and_settles_it(
    tmp_path: Path, sim: SimExchange
) -> None:
    """Placements take 3 s to be answered; SIGTERM arrives while one is in flight. The send is not cut:
    its answer is journaled, the order settled, and the daemon is gone well inside systemd's
    `TimeoutStopSec=30` (before: the send was cancelled, the order stayed SENT, and the stop waited out
    the whole 30 s NOT_FOUND window)."""
    config = orjson.loads(write_config(tmp_path, sim).read_bytes())
    config["live"]["unknown_window_s"] = 30  # the default
    (tmp_path / "live.json").write_bytes(orjson.dumps(config))
    sim.faults.update({"slow_path": "/trade/place_order", "slow_path_ms": 3_000})
    proc = await start(tmp_path, "--run-id", "t", "--duration", "120")
    try:
        await eventually(lambda: sim.faults.counts.get("slow_path", 0) >= 1, within_s=60, what="a placement")
        await asyncio.sleep(0.5)  # well inside the 3 s the answer takes
        started = asyncio.get_running_loop().time()
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        took = asyncio.get_running_loop().time() - started
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert took < 10.0, f"the stop took {took:.1f} s"
    final = final_states(tmp_path / "runs" / "t")
    assert final and not [cid for cid, state in final.items() if state == "SENT"]
    assert set(final.values()) <= {"FILLED", "ACKED", "CANCELLED", "REJECTED"}  # every outcome known
    account = sim.ledger.accounts[KEY]
    assert all(o.client_id in final for o in account.orders.values() if o.client_id)  # each one journaled


def events(folder: Path) -> list[dict[str, object]]:
    return read_events(folder)


async def test_a_liquidation_while_the_daemon_is_down_is_booked_on_resume_and_no_close_is_sent(
    tmp_path: Path, sim: SimExchange
) -> None:
    """kill -9 with a position open; the venue's liquidation engine flattens it while the daemon is down;
    `--resume` books the venue's close of it (the execution that is none of our orders) at its price, once,
    and never sends an order to close a position that is already gone."""
    write_config(tmp_path, sim)
    proc = await start(tmp_path, "--run-id", "q", "--duration", "120", quiet=True)
    folder = tmp_path / "runs" / "q"
    account = sim.ledger.accounts[KEY]
    try:

        def booked_and_open() -> bool:  # the books know of it, and the venue still holds it
            opens = [e for e in events(folder) if e["event"] in ("PositionOpened", "PositionClosed")]
            return bool(opens) and opens[-1]["event"] == "PositionOpened" and "BTCUSDT" in account.positions

        await eventually(booked_and_open, within_s=60, what="a position booked and open")
        proc.kill()  # kill -9 with the position open
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert "BTCUSDT" in account.positions, "the position was closed before the kill; nothing to liquidate"
    opened = [e for e in events(folder) if e["event"] == "PositionOpened"][-1]
    order = sim.ledger.liquidate(account, "BTCUSDT")
    assert order is not None and not order.client_id
    closes_before = [r for r in journal(folder) if r["op"] == "intent" and r["purpose"] == "close"]
    code, _, err = await la(tmp_path, "--resume", "q", "--duration", "6")
    assert code == 0, err
    closed = [e for e in events(folder) if e["event"] == "PositionClosed" and e["trade_id"] == opened["trade_id"]]
    assert len(closed) == 1, closed  # booked once
    assert closed[0]["exit_price"] == pytest.approx(order.avg_price)  # at the venue's price
    assert closed[0]["qty"] == pytest.approx(order.trade_qty)
    closes = [r for r in journal(folder) if r["op"] == "intent" and r["purpose"] == "close"]
    assert len(closes) == len(closes_before)  # no order was sent to close what the venue had closed
    reconciled = [e for e in events(folder) if e["event"] == "Reconciled"]
    assert not [e for e in reconciled if e["action"] in ("adopted", "adjusted", "closed_in_books")], reconciled
    trades_csv = (folder / "trades.csv").read_text().splitlines()
    assert sum(1 for row in trades_csv[1:] if row.split(",")[0] == str(opened["trade_id"])) == 1
    replayed = replay_run(folder)  # the venue's close of it, booked on resume, is an input like any other
    assert replayed.identical, replayed.divergence


async def test_a_second_sigterm_exits_at_once_and_the_resume_settles_the_order(
    tmp_path: Path, sim: SimExchange
) -> None:
    """Issue 14, item 15: the first SIGTERM waits for the send in flight (3 s here); a second one exits
    now, leaving the journal as it is; the next start looks the order up and sends nothing twice."""
    write_config(tmp_path, sim)
    sim.faults.update({"slow_path": "/trade/place_order", "slow_path_ms": 3_000})
    proc = await start(tmp_path, "--run-id", "s", "--duration", "120")
    try:
        await eventually(lambda: sim.faults.counts.get("slow_path", 0) >= 1, within_s=60, what="a placement")
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        started = asyncio.get_running_loop().time()
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
        took = asyncio.get_running_loop().time() - started
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()
    assert took < 1.5, f"the second signal took {took:.1f} s"
    assert "second SIGTERM: exiting now" in err.decode()
    sim.faults.update({"slow_path": ""})
    code, _, err2 = await la(tmp_path, "--resume", "s", "--duration", "6")
    assert code == 0, err2
    final = final_states(tmp_path / "runs" / "s")
    account = sim.ledger.accounts[KEY]
    for cid, state in final.items():
        placed = sum(1 for o in account.orders.values() if o.client_id == cid)
        assert placed == (0 if state in ("REJECTED", "NOT_FOUND") else 1), (cid, state)
    assert "SENT" not in final.values() and "UNKNOWN" not in final.values()


async def test_sigterm_during_the_preflight_stops_cleanly_once_started(tmp_path: Path, sim: SimExchange) -> None:
    """Issue 14, item 15: before, the handlers were installed only once the runner ran, so a SIGTERM
    during the preflight or the warm-up killed the process with no record."""
    write_config(tmp_path, sim)
    sim.faults.update({"slow_path": "/futures/account", "slow_path_ms": 2_000})
    proc = await start(tmp_path, "--run-id", "p", "--duration", "120")
    try:
        await eventually(lambda: sim.faults.counts.get("slow_path", 0) >= 1, within_s=60, what="the preflight")
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert "SIGTERM received while starting" in err.decode()
    assert "Live-exchange session (signal SIGTERM)" in out.decode()
    events = [orjson.loads(x) for x in (tmp_path / "runs" / "p" / "events.jsonl").read_bytes().splitlines()]
    assert events[-1]["event"] == "RunFinished" and events[-1]["status"] == "stopped"
    assert not sim.requests_to("/trade/place_order")  # it stopped before it traded
