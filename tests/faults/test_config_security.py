"""§6 config and security (reliability.md scenarios 30-35), the behaviours not pinned elsewhere.

Scenario 32, a secret inside a text. Redaction went by key name only (a field called `secret`): a value
inside an exception's message, a venue's error that echoes the API key, a traceback or a stdlib log record
went out as it was. The values are now registered when loaded (`base.scrub`) and masked on every way out.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import structlog

from laptop_agents.base import scrub
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.events import Error, Event, JournalRecord
from laptop_agents.daemon.daemon_log import LOG_FILE, DaemonLog
from laptop_agents.daemon.logging import configure_logging
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.runs.checkpoint import read_checkpoint, write_checkpoint
from laptop_agents.runs.event_log import EventLog
from tests.daemon.test_daemon_process import clean_env, la_command
from tests.exchange.conftest import KEY, SECRET, bundled_candles, sim_config
from tests.live.test_live_daemon import la, write_config

TOKEN = "dashboard-token-4f1d8e"


@pytest.fixture
def secrets_known() -> Iterator[None]:
    scrub.register(KEY, SECRET, TOKEN)
    try:
        yield
    finally:
        scrub.forget()
        structlog.reset_defaults()


def _raise(text: str) -> BaseException:
    try:
        raise RuntimeError(f"the venue said: bad request for {text}")
    except RuntimeError as exc:
        return exc


@pytest.mark.usefixtures("secrets_known")
def test_s32_a_secrets_value_inside_a_text_is_masked_on_every_way_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the daemon's own log file, an exception's traceback included
    log = DaemonLog(tmp_path, level="info", fmt="json", run_id="r", console=io.StringIO())
    log.exception("orders", _raise(f"key {KEY} secret {SECRET}"))
    # the event log and what its listeners (dashboard, alerts) are given
    seen: list[Event] = []
    events = EventLog(tmp_path / "events.jsonl", run_id="r", wall_clock=LiveClock(), durable=True)
    events.subscribe(seen.append)
    events.subscribe(log)
    events.emit(Error(ts=1, symbol="BTCUSDT", where="sync", fatal=False, message=f"HTTP 400 (api-key {KEY})"))
    events.close()
    log.close()
    # structlog's configured output (the CLI's logs) and the standard library's (asyncio's, aiohttp's)
    configure_logging(level="info", fmt="json", clock=LiveClock())
    structlog.get_logger().error("failed", exc_info=_raise(SECRET), detail=f"token {TOKEN}")
    stdlib = io.StringIO()
    handler = logging.StreamHandler(stdlib)  # a handler added after the secrets were known
    logging.getLogger("asyncio").addHandler(handler)
    try:
        logging.getLogger("asyncio").error("Task exception was never retrieved", exc_info=_raise(SECRET))
    finally:
        logging.getLogger("asyncio").removeHandler(handler)
    err = capsys.readouterr().err + stdlib.getvalue()
    written = (tmp_path / LOG_FILE).read_text() + (tmp_path / "events.jsonl").read_text() + err
    for secret in (KEY, SECRET, TOKEN):
        assert secret not in written, secret
    assert written.count(scrub.MASK) >= 6  # each was there, masked (not dropped with its line)
    assert "RuntimeError" in err and "Task exception was never retrieved" in err  # the text around it stays
    assert isinstance(seen[0], Error) and seen[0].message == f"HTTP 400 (api-key {scrub.MASK})"
    line = orjson.loads((tmp_path / "events.jsonl").read_bytes().splitlines()[0])
    assert line["seq"] == 1 and line["message"] == f"HTTP 400 (api-key {scrub.MASK})"


@dataclass(frozen=True)
class _Quote:
    text: str
    price: float


@pytest.mark.usefixtures("secrets_known")
def test_s32_a_secret_nested_in_an_events_fields_is_masked_for_the_listeners_too(tmp_path: Path) -> None:
    """Before, a secret inside a dict or list field (a journal record's detail) was masked in the line only:
    the listeners (dashboard, alerts) were handed the event as it was."""
    seen: list[Event] = []
    events = EventLog(tmp_path / "events.jsonl", run_id="r", wall_clock=LiveClock(), durable=True)
    events.subscribe(seen.append)
    detail = {
        "reason": "exchange",
        "detail": f"HTTP 400 (api-key {KEY})",
        "n": 2,
        "nested": [f"secret {SECRET}", 1.5],
        "quote": _Quote(f"token {TOKEN}", 1.0),
    }
    record = JournalRecord(ts=1, symbol="BTCUSDT", plan_id=3, kind="reject", setup="sweep", side="long",
                           detail=detail, tags=[f"echo_{TOKEN}", "rejected"])  # fmt: skip
    plain = JournalRecord(ts=2, plan_id=4, kind="plan", setup="sweep", side="long", detail={"n": 1})
    events.emit(record)
    events.emit(plain)
    events.close()
    text = (tmp_path / "events.jsonl").read_text()
    masked = seen[0]
    assert isinstance(masked, JournalRecord)
    for secret in (KEY, SECRET, TOKEN):
        assert secret not in text and secret not in repr(masked)
    assert masked.detail == {"reason": "exchange", "detail": f"HTTP 400 (api-key {scrub.MASK})", "n": 2,
                             "nested": [f"secret {scrub.MASK}", 1.5],
                             "quote": _Quote(f"token {scrub.MASK}", 1.0)}  # fmt: skip
    assert type(masked.detail["quote"]) is _Quote  # a dataclass inside a field: rebuilt, masked for the listeners
    assert masked.tags == [f"echo_{scrub.MASK}", "rejected"] and record.plan_id == masked.plan_id
    assert seen[1] is plain  # an event without a secret is handed on as it is, not copied
    assert orjson.loads(text.splitlines()[0])["detail"] == orjson.loads(orjson.dumps(masked.detail))


def test_s32_a_secret_with_characters_json_escapes_is_masked_in_the_event_log(tmp_path: Path) -> None:
    """A value with a quote or a backslash is written escaped (`\\"`) in a JSON line: before, the line's
    test for a secret looked for the raw bytes only and let it through (and a checkpoint masked the raw
    form only)."""
    odd = 'pa"ss\\word-0123'
    scrub.register(odd)
    try:
        events = EventLog(tmp_path / "events.jsonl", run_id="r", wall_clock=LiveClock(), durable=True)
        events.emit(Error(ts=1, where="sync", fatal=False, message=f"refused {odd} for now"))
        events.close()
        write_checkpoint(tmp_path / "state.json", {"halts": {"exchange_auth": f"refused {odd} for now"}})
    finally:
        scrub.forget()
    line = orjson.loads((tmp_path / "events.jsonl").read_bytes())
    assert line["message"] == f"refused {scrub.MASK} for now"
    assert read_checkpoint(tmp_path / "state.json")["halts"]["exchange_auth"] == f"refused {scrub.MASK} for now"
    assert scrub.scrub_bytes(orjson.dumps({"m": odd})) == orjson.dumps({"m": odd})  # nothing known now


def test_s32_an_uncaught_exception_holding_a_secret_prints_its_traceback_masked(tmp_path: Path) -> None:
    code = (f"from laptop_agents.base import scrub; scrub.register({SECRET!r}); "
            f"raise RuntimeError('signed with ' + {SECRET!r})")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1 and "Traceback" in done.stderr and "RuntimeError: signed with ***" in done.stderr
    assert SECRET not in done.stderr


async def test_s32_a_venue_that_echoes_the_api_key_in_its_errors_leaks_it_nowhere(tmp_path: Path) -> None:
    """A real live-exchange start whose venue names the API key in its refusal: the signature is refused
    (a wrong secret) "... (api-key K)", the text reaches the daemon inside the exception, and the line it
    prints, the preflight's event and every file of the run hold the key masked, never the key."""
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        write_config(tmp_path, sim)
        sim.faults.update({"echo_api_key": True})
        wrong = {"BITUNIX_API_SECRET": "not-the-secret-0000"}
        code, out, err = await la(tmp_path, "--run-id", "echo", "--preflight-only", env=wrong)
    assert code != 0 and err.count("\n") == 1 and "preflight keys failed" in err, err
    assert sim.faults.counts.get("echo_api_key", 0) >= 1  # the venue did echo the key
    files = [p for p in (tmp_path / "runs" / "echo").rglob("*") if p.is_file()]
    written = "".join(p.read_text(errors="replace") for p in files)
    assert f"(api-key {scrub.MASK})" in err and f"(api-key {scrub.MASK})" in written  # masked where it went
    everything = out + err + written
    assert KEY not in everything and "not-the-secret-0000" not in everything


def _la(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [*la_command(), "run", "--mode", "backtest", "--set", f'run.runs_dir="{tmp_path / "runs"}"', *args]
    return subprocess.run(command, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip


def test_s31_zero_risk_and_an_impossible_leverage_are_refused_at_load_each_on_its_line(tmp_path: Path) -> None:
    done = _la(tmp_path, "--set", "risk.risk_pct=0", "--set", "exchange.leverage=200", "--set",
               "risk.max_leverage=-1")  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 3, done.stderr
    assert any(line.startswith("la: risk.risk_pct = 0 (from --set)") and "> 0" in line for line in lines)
    assert any(line.startswith("la: exchange.leverage = 200") and "<= 125" in line for line in lines)
    assert any(line.startswith("la: risk.max_leverage = -1") and "> 0" in line for line in lines)
    assert not (tmp_path / "runs").exists()  # nothing started


def test_s31_a_timeframe_that_does_not_match_the_data_is_refused_with_the_fix(tmp_path: Path) -> None:
    done = _la(tmp_path, "--interval", "5m")  # the bundled candles are 1m apart
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "data.interval is 5m but the candles are 1m apart; set --interval 1m" in done.stderr
