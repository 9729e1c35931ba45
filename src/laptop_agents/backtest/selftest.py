"""`la run --mode selftest`: an offline end-to-end check of the installed product.

It builds real runs in a temporary folder (mock data, real files) and checks what a user relies on:
candles are validated, events round-trip, trades happen, the books balance, files are complete and
a second identical run writes byte-identical trades.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable
from pathlib import Path

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.config.loader import load_settings
from laptop_agents.core.candle import Candle
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import CandleError
from laptop_agents.core.event_codec import parse_record
from laptop_agents.core.events import PositionClosed
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.checkpoint import read_checkpoint
from laptop_agents.runs.run_folder import RunFolder

Check = tuple[str, Callable[[Path], str]]


def _candles_are_validated(_: Path) -> str:
    for bad in (
        (1, 10.0, 9.0, 8.0, 9.5, 1.0),
        (1, float("nan"), 11.0, 9.0, 10.0, 1.0),
        (1, 10, 11, 9, 10, -1),
    ):
        try:
            Candle(*bad)
        except CandleError:
            continue
        return f"invalid candle {bad} was accepted"
    return ""


def _backtest_run(root: Path, name: str) -> tuple[RunFolder, int]:
    settings = load_settings(
        environ={},
        config_dir=None,
        sets=['data.source="mock"', "data.mock_candles=4000", "circuit_breaker.enabled=false"],
    )
    folder = RunFolder.create(root, name)
    result = run_backtest(
        settings,
        source=open_source(settings.data, seed=settings.run.seed),
        folder=folder,
        wall_clock=LiveClock(),
    )
    return folder, result.summary.trades


def _backtest_end_to_end(root: Path) -> str:
    folder, trades = _backtest_run(root, "selftest-a")
    if trades == 0:
        return "the mock backtest made no trades"
    for name in ("events.jsonl", "trades.csv", "equity.csv", "state.json", "config.json", "summary.html"):
        if not (folder.path / name).is_file():
            return f"{name} was not written"
    closed = []
    for line in folder.events.read_bytes().splitlines():
        record = parse_record(line)
        if isinstance(record.event, PositionClosed):
            closed.append(record.event)
    with folder.trades.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if len(rows) != len(closed) or len(rows) != trades:
        return f"trades.csv has {len(rows)} rows, events {len(closed)} closed trades, summary {trades}"
    state = read_checkpoint(folder.state)
    start = 10_000.0
    books = start + sum(t.net_pnl for t in closed) - sum(t.funding for t in closed)
    if abs(state["cash"] - books) > 1e-6:
        return f"cash {state['cash']} != start + Σ net PnL − funding = {books}"
    with folder.equity.open() as handle:
        last = handle.read().splitlines()[-1].split(",")
    if abs(float(last[1]) - state["cash"]) > 1e-6:
        return f"last equity.csv row {last[1]} != final cash {state['cash']}"
    page = folder.summary.read_text()
    if 'id="report-data"' not in page or '"equity":[[' not in page:
        return "summary.html embeds no chart data"
    return ""


def _backtest_is_deterministic(root: Path) -> str:
    a, _ = _backtest_run(root, "selftest-b")
    b, _ = _backtest_run(root, "selftest-c")
    if a.trades.read_bytes() != b.trades.read_bytes():
        return "two identical runs wrote different trades.csv"
    return ""


CHECKS: list[Check] = [
    ("candles are validated", _candles_are_validated),
    ("backtest end to end (files, events, books)", _backtest_end_to_end),
    ("backtest is deterministic", _backtest_is_deterministic),
]


def run_selftest(say: Callable[[str], None]) -> bool:
    failed = 0
    with tempfile.TemporaryDirectory(prefix="la-selftest-") as tmp:
        for name, check in CHECKS:
            try:
                problem = check(Path(tmp))
            except Exception as exc:  # a self-test reports every failure, whatever its type
                problem = f"{type(exc).__name__}: {exc}"
            say(f"{'ok  ' if not problem else 'FAIL'} {name}{': ' + problem if problem else ''}")
            failed += bool(problem)
    say("SELFTEST PASS" if not failed else f"SELFTEST FAIL ({failed} of {len(CHECKS)} checks failed)")
    return not failed
