"""The JSON API over a run folder as a daemon leaves it: whole lines only, every candle's equity accounted
for when downsampled, open orders from the journal, events over SSE as they are written."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from aiohttp import ClientSession

from laptop_agents.dashboard.run_view import RunView
from laptop_agents.live.journal import JournalOrder, OrderJournal
from tests.dashboard.conftest import MINUTE, RUN_ID, T0, Served, write_run


async def test_status_positions_trades_and_the_runs_index(served: Served) -> None:
    async with ClientSession() as http:
        async with http.get(served.url + "/api/runs") as reply:
            (row,) = (await reply.json())["runs"]
        assert row["run_id"] == RUN_ID and row["trades"] == 1 and row["net_pnl"] == 40.0
        assert (row["first_ts"], row["last_ts"]) == (T0, T0 + 10 * MINUTE)
        assert row["state"] == "crashed"  # its heartbeat says running, but no process holds the run's lock
        async with http.get(served.url + "/api/status") as reply:  # the newest run when none is named
            status = await reply.json()
        assert status["run_id"] == RUN_ID and status["breaker"]["max_drawdown_pct"] == 10.0
        # the market data's troubles as the heartbeat counts them (before: gaps only)
        assert (status["gaps"], status["invalid_candles"], status["holes"]) == (2, 1, 1)
        async with http.get(served.url + f"/api/trades?run={RUN_ID}&last=5") as reply:
            (trade,) = await reply.json()
        assert trade["net_pnl"] == 40.0 and trade["exit_reason"] == "target" and trade["entry_ts"] == T0
        async with http.get(served.url + "/api/trades?last=0") as reply:
            assert reply.status == 400 and "last" in await reply.text()
        async with http.get(served.url + "/api/status?run=nope") as reply:
            assert reply.status == 404


def test_a_live_daemons_positions_are_shown_and_a_dead_ones_are_not(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "runs")
    beat = orjson.loads((folder / "heartbeat.json").read_bytes())
    live = RunView(folder, live=lambda: beat)
    (position,) = live.positions()
    assert position["symbol"] == "BTCUSDT" and position["stop_price"] == 45_800.0 and position["unrealized"] == 50.0
    assert live.state() == "running"
    assert RunView(folder).positions() == []  # the same files with no daemon: it holds nothing now
    beat["state"] = "degraded"
    assert live.state() == "stale"


def test_equity_is_downsampled_into_buckets_that_keep_every_candles_extremes(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "runs")
    rows = [(T0 + i * MINUTE, 10_000.0, 0.0) for i in range(43_200)]  # a month of 1-minute candles
    rows[7] = (T0 + 7 * MINUTE, 9_000.0, 10.0)  # a one-candle dip in the first bucket
    rows[-1] = (rows[-1][0], 12_000.0, 0.0)
    (folder / "equity.csv").write_text("ts,equity,drawdown_pct\n" + "".join(f"{t},{e},{d}\n" for t, e, d in rows))
    out = RunView(folder).equity(800)
    assert len(out["ts"]) <= 800 and out["ts"][0] == T0  # the chart starts at the first candle
    assert out["ts"][1] == T0 + 54 * MINUTE  # then buckets of 55 candles, each dated by its last, none dropped
    assert out["low"][1] == 9_000.0 and out["drawdown_pct"][1] == 10.0 and out["equity"][-1] == 12_000.0
    assert out["ts"][-1] == rows[-1][0] and out["high"][-1] == 12_000.0
    summary = RunView(folder).summary()
    assert (summary["first_ts"], summary["last_ts"], summary["final_equity"]) == (T0, rows[-1][0], 12_000.0)


def test_a_torn_last_line_is_not_read_until_it_is_whole(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "runs")
    view = RunView(folder)
    assert len(view.equity()["ts"]) == 11
    with (folder / "equity.csv").open("a") as handle:
        handle.write(f"{T0 + 11 * MINUTE},10060")  # the daemon is half way through a row
    assert len(view.equity()["ts"]) == 11
    with (folder / "equity.csv").open("a") as handle:
        handle.write(",0.0\n")
    assert view.equity()["equity"][-1] == 10_060.0
    with (folder / "events.jsonl").open("ab") as handle:
        handle.write(b'{"seq": 11, "event": "Fi')
    assert [e["seq"] for e in view.events(3)] == [8, 9, 10]


def test_open_orders_come_from_the_order_journal(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "runs")
    journal = OrderJournal(folder / "orders.jsonl")
    now = int(time.time() * 1000)
    for cid, state in (("la1-000001", "ACKED"), ("la1-000002", "FILLED"), ("la1-000003", "UNKNOWN")):
        journal.intent(JournalOrder(cid, "BTCUSDT", "BUY", "LIMIT", 0.01, 46_000.0, False, "entry", now - 30_000))
        journal.move(cid, "SENT", at_ms=now - 29_000)
        journal.move(cid, state, at_ms=now - 28_000, order_id="x" + cid[-1])
    journal.close()
    orders = RunView(folder).orders()
    assert [(o["client_id"], o["state"]) for o in orders] == [("la1-000001", "ACKED"), ("la1-000003", "UNKNOWN")]
    assert 29 <= orders[0]["age_s"] <= 60 and orders[0]["price"] == 46_000.0


async def test_events_arrive_over_sse_as_they_are_written_filtered_by_type(served: Served) -> None:
    events = served.runs / RUN_ID / "events.jsonl"
    async with ClientSession() as http:
        url = served.url + f"/api/events?run={RUN_ID}&types=Fill,PositionOpened"
        async with http.get(url) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            with events.open("ab") as handle:
                handle.write(orjson.dumps({"seq": 11, "event": "CandleClosed", "ts_event": T0}) + b"\n")
                handle.write(orjson.dumps({"seq": 12, "event": "Fill", "ts_event": T0, "qty": 0.5}) + b"\n")
            message = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
        assert message.startswith(b"id: 12\n") and orjson.loads(message.split(b"data: ")[1])["qty"] == 0.5
        async with http.get(served.url + f"/api/events?run={RUN_ID}", headers={"Last-Event-ID": "10"}) as stream:
            first = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
        assert first.startswith(b"id: 11\n")  # what a reconnecting page missed, and only that
