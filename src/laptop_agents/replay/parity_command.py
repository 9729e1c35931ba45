"""`la parity RUN [--candles SYMBOL=FILE.csv]`: the differences between a live session and the backtest of the
candles it traded, each with its cause; printed, written to `parity.json` and shown in `summary.html`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.config.loader import resume_settings
from laptop_agents.core.errors import InputError
from laptop_agents.core.events import ConfigChanged, RunStarted
from laptop_agents.core.inputs import VenueTiers
from laptop_agents.daemon.venue_tiers import tiers_applied
from laptop_agents.replay.decisions import DECISION_TYPES
from laptop_agents.replay.live import revert_changes
from laptop_agents.replay.parity import ParityResult, run_parity, traded_candles
from laptop_agents.replay.parity_report import as_json, section_html, summary_lines
from laptop_agents.replay.records import read_records
from laptop_agents.replay.venue import VenueCandles, embedded_sim_candles, from_files, rest_candles
from laptop_agents.reporting.html_report import add_section
from laptop_agents.runs.run_ref import read_run_config, resolve_run
from laptop_agents.strategy.registry import build_strategy

PARITY_FILE = "parity.json"


def parity_of(folder: Path, *, candles: Sequence[str] = ()) -> ParityResult:
    records = read_records(folder / "events.jsonl").records
    started = next((e for r in records if r.kind is RunStarted and isinstance(e := r.event, RunStarted)), None)
    if started is None:
        raise InputError(f"{folder / 'events.jsonl'} has no RunStarted: the run never started")
    if started.mode not in ("live-paper", "live-exchange"):
        raise InputError(f"la parity compares a live session with its backtest; {folder.name} is a {started.mode} run")
    settings, _ = resume_settings(revert_changes(read_run_config(folder, command="la parity"), records), environ={})
    broker = settings.broker.model_copy(update={"starting_balance": started.starting_balance})
    settings = settings.model_copy(update={"broker": broker})
    first_session = records[: next(i for i, r in enumerate(records) if r.kind is RunStarted)]
    tiers = {e.symbol: e.tiers for r in first_session if r.kind is VenueTiers and isinstance(e := r.event, VenueTiers)}
    settings = tiers_applied(settings, tiers)  # the venue's margin tiers the session traded with
    notes = []
    if any(r.kind is ConfigChanged for r in records):
        notes.append("the run was reconfigured on a resume (ConfigChanged): the backtest keeps its first configuration")
    traded = traded_candles(records)
    if not traded:
        raise InputError(f"{folder.name} traded no candle yet: nothing to compare")
    spans: dict[str, tuple[int, int]] = {}
    for item in traded:
        first, last = spans.get(item.symbol, (item.ts, item.ts))
        spans[item.symbol] = (min(first, item.ts), max(last, item.ts))
    venue = _venue(settings, spans, candles, settings.data.trading_symbols)
    run_id = str(orjson.loads(records[0].line)["run_id"])
    memory = build_strategy(settings.strategy, emit=lambda _e: None, symbol=settings.data.symbol).warmup_candles()
    live = [r.event for r in records if r.kind in DECISION_TYPES]
    result = run_parity(settings, records, run_id=run_id, mode=started.mode, venue=venue, live_decisions=live,
                        memory_candles=memory)  # fmt: skip
    result.notes += notes
    return result


def _venue(
    settings: object, spans: dict[str, tuple[int, int]], given: Sequence[str], symbols: Sequence[str]
) -> VenueCandles:
    from laptop_agents.config.models import Settings

    assert isinstance(settings, Settings)
    if given:
        files: dict[str, Path] = {}
        for item in given:
            symbol, sep, path = item.rpartition("=")
            if not sep:
                if len(symbols) > 1:
                    raise InputError(f"--candles {item}: this run trades {', '.join(symbols)}; give SYMBOL=FILE.csv")
                symbol = symbols[0]
            files[symbol.upper()] = Path(path)
        return from_files(files)
    if settings.exchange.rest_url is None:
        return embedded_sim_candles(settings)
    return rest_candles(settings, spans)


def run(run_ref: str, runs_dir: str, candles: Sequence[str], out: Callable[[str], None] = print) -> int:
    folder = resolve_run(run_ref, runs_dir, command="la parity")
    result = parity_of(folder, candles=candles)
    atomic_write_bytes(folder / PARITY_FILE, orjson.dumps(as_json(result), option=orjson.OPT_INDENT_2) + b"\n")
    where = [str(folder / PARITY_FILE)]
    if (folder / "summary.html").is_file():
        add_section(folder / "summary.html", "parity", "Parity with the backtest", section_html(result))
        where.append(str(folder / "summary.html"))
    for line in summary_lines(result):  # the files first: a reader that stops early (| head) loses nothing
        out(line)
    out(f"written to {' and '.join(where)}")
    return 0
