"""The daemon logs what it does (issue 14, items 9 and 10): JSON lines in `runs/<id>/daemon.log`, the
moments a trader watches for on the terminal, tracebacks kept, secrets redacted by whole key name."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from laptop_agents.core.events import Fill, GapDetected, OrderState, PositionClosed, SignalGenerated
from laptop_agents.daemon.daemon_log import DaemonLog, redact
from tests.daemon.test_daemon_process import clean_env, la_command
from tests.helpers import BROKEN_STRATEGIES


def lines(run: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (run / "daemon.log").read_bytes().splitlines()]


def test_redaction_matches_whole_key_names_at_any_depth() -> None:
    """Before: any key containing `sign` was redacted, so `signal` and `design` came out as `***`."""
    out = redact(None, "info", {
        "signal": "long", "design": "x", "api_key": "k", "token": "t",
        "nested": {"secret": "s", "rows": [{"password": "p", "setup": "ok"}], "signature": "z"},
    })  # fmt: skip
    assert out["signal"] == "long" and out["design"] == "x"
    assert out["api_key"] == out["token"] == "***"
    assert out["nested"]["secret"] == "***" and out["nested"]["signature"] == "***"
    assert out["nested"]["rows"] == [{"password": "***", "setup": "ok"}]


def test_the_console_shows_fills_positions_and_gaps_one_line_each_and_nothing_else(tmp_path: Path) -> None:
    console = io.StringIO()
    log = DaemonLog(tmp_path, level="info", fmt="console", run_id="r", console=console)
    log(
        SignalGenerated(ts=60_000, symbol="BTCUSDT", direction="long", setup="s", reason="cross", entry_allowed=True)
    )  # fmt: skip  (not for the console, nor the file)
    log(OrderState(ts=60_000, symbol="BTCUSDT", client_order_id="c", state="ACKED", order_id="1", detail="d"))
    log(Fill(ts=60_000, symbol="BTCUSDT", fill_id="f", client_order_id="c", side="buy", qty=0.5, price=100.0,
             fee=0.03, liquidity="taker"))  # fmt: skip
    log(GapDetected(ts=120_000, symbol="BTCUSDT", from_ts=60_000, to_ts=120_000, missing=2))
    log(PositionClosed(ts=180_000, symbol="BTCUSDT", trade_id=1, side="long", qty=0.5, entry_ts=60_000,
                       entry_price=100.0, exit_price=110.0, pnl=5.0, fees=0.06, net_pnl=4.94, funding=0.0,
                       exit_reason="target", setup="s"))  # fmt: skip
    log.close()
    shown = console.getvalue().splitlines()
    assert len(shown) == 3
    assert "fill buy 0.5 @ 100" in shown[0] and "gap: 2 candles missing" in shown[1]
    assert "closed long 0.5 @ 110 (target): net +4.94" in shown[2]
    logged = [row["event"] for row in lines(tmp_path)]
    assert logged == ["OrderState", "Fill", "GapDetected", "PositionClosed"]  # the file has more


@pytest.mark.slow
def test_a_live_session_logs_what_it_does_and_keeps_the_traceback_of_a_failed_task(tmp_path: Path) -> None:
    """Item 9: before, a live session wrote no log line at any level, and a task failure kept only
    "{type}: {msg}". Item 11: a strategy that raises ends the run with `RunFinished status=failed`."""
    (tmp_path / "boomstrat.py").write_text(BROKEN_STRATEGIES)
    env = {**clean_env(), "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [*la_command(), "run", "--mode", "live-paper", "--run-id", "b", "--strategy", "boomstrat:Boom",
         "--duration", "30", "--set", "exchange.sim_speed=1200"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    run = tmp_path / "runs" / "b"
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr  # one line, not a traceback
    failed = [line for line in done.stderr.splitlines() if "ZeroDivisionError" in line]
    assert len(failed) == 1 and "boomstrat:Boom" in failed[0] and "BTCUSDT" in failed[0], done.stderr
    logged = lines(run)
    kinds = {row["event"] for row in logged}
    assert {"RunStarted", "Error", "exception", "RunFinished"} <= kinds
    (trace,) = [row for row in logged if row["event"] == "exception"]
    assert "Traceback" in trace["traceback"] and "the strategy divided by zero" in trace["traceback"]
    assert "boomstrat.py" in trace["traceback"]
    events = [orjson.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines()]
    assert events[-1]["event"] == "RunFinished" and events[-1]["status"] == "failed"
    assert "ZeroDivisionError" in (events[-1]["error"] or "")
    assert all(set(row) >= {"level", "time", "run_id", "event"} for row in logged)
