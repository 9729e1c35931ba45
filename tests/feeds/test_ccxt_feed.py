"""Live-paper on another venue's candles through CCXT (`exchange.ccxt_id`): a real `la run` process polling a
loopback stand-in for Binance USDⓈ-M whose market moves while it runs, with some polls failing."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import orjson
import pytest

from laptop_agents.config.loader import load_settings
from laptop_agents.core.errors import ConfigError
from tests.daemon.test_daemon_process import clean_env, la_command
from tests.download.binance_stub import binance
from tests.exchange.conftest import bundled_candles

MINUTE = 60_000


async def test_live_paper_trades_a_ccxt_venues_candles_each_once_in_order_through_failed_polls(tmp_path: Path) -> None:
    candles = bundled_candles()
    async with binance(candles, per_s=8.0, start_with=300, fail_every=5) as venue:
        proc = await asyncio.create_subprocess_exec(
            *la_command(), "run", "--mode", "live-paper", "--duration", "4", "--run-id", "ccxt",
            "--set", "exchange.ccxt_id=binanceusdm", "--set", f"exchange.rest_url={venue.url}",
            "--set", "exchange.ccxt_poll_s=0.1", "--set", f"run.runs_dir={tmp_path / 'runs'}",
            "--set", "data.stale_after_intervals=1000", "--set", "run.heartbeat_interval_s=0.2",
            cwd=tmp_path, env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        visible = len(venue.visible())  # what the venue had shown by the end (the last one still forming)
    assert proc.returncode == 0, err.decode()[-2000:]
    run = tmp_path / "runs" / "ccxt"
    events = [orjson.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines()]
    closed = [e for e in events if e["event"] == "CandleClosed"]
    live = [e for e in closed if not e.get("warmup")]
    assert len(live) >= 10, f"{len(live)} live candles"
    stamps = [e["ts_event"] for e in closed]
    assert all(b - a == MINUTE for a, b in itertools.pairwise(stamps)), "each candle once, in order, no gap"
    by_ts = {c.ts: c for c in candles}
    assert all((e["open"], e["high"], e["low"], e["close"], e["volume"]) == by_ts[e["ts_event"]].as_tuple()[1:]
               for e in closed)  # fmt: skip
    assert stamps[-1] < candles[visible - 1].ts  # never a candle the venue had not closed (by its own clock: a
    # loaded machine's slow start lets more of them close, so no bound on wall time)
    failures = [e for e in events if e["event"] == "Error"]
    assert failures and all(not e["fatal"] and e["where"].startswith("ccxt binanceusdm") for e in failures)
    assert len(failures) < 6, "one Error per run of failed polls, not one per poll"
    (started,) = [e for e in events if e["event"] == "RunStarted"]
    assert started["source"] == "ccxt binanceusdm"
    assert orjson.loads((run / "heartbeat.json").read_bytes())["state"] == "stopped" and out


def test_a_ccxt_venue_is_for_live_paper_only() -> None:
    with pytest.raises(ConfigError, match=r"exchange\.ccxt_id is for live-paper .* not live-exchange"):
        load_settings(sets=["run.mode=live-exchange", "exchange.ccxt_id=binanceusdm"])
    with pytest.raises(ConfigError, match="lower case"):
        load_settings(sets=["run.mode=live-paper", "exchange.ccxt_id=Binance USDM"])
