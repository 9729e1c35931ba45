"""Replay of a backtest: its inputs are the files it read (checked by SHA-256) and its configuration; the
candles go through the backtest's own path (`feed_backtest`) into a fresh core whose every decision is
compared with the recorded one as it is taken. Nothing is written."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path

from laptop_agents.backtest.driver import CandleStream, feed_backtest
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import InputError, LaptopAgentsError
from laptop_agents.core.events import Error, RunFinished
from laptop_agents.core.inputs import InputFile
from laptop_agents.engine.assembly import build_core
from laptop_agents.feeds.input_files import backtest_files, file_digest
from laptop_agents.feeds.sources import CandleSource, open_marks, open_source
from laptop_agents.replay.decisions import DECISION_TYPES, DecisionCheck, Diverged, when
from laptop_agents.replay.records import Record


class _Recent:
    """The source as the stream reads it, keeping the last candles read: a divergence names its candle."""

    def __init__(self, inner: CandleSource) -> None:
        self.inner = inner
        self.recent: deque[Candle] = deque(maxlen=16)

    def describe(self) -> str:
        return self.inner.describe()

    def __iter__(self) -> Iterator[Candle]:
        keep = self.recent.append
        inner = self.inner
        for candle in inner:
            keep(candle)
            yield candle

    def line_of(self, candle: Candle) -> int:
        return self.inner.line_of(candle)

    def at(self, ts: int) -> str:
        for candle in self.recent:
            if candle.ts == ts:
                return (f"the candle at {when(ts)} (o={candle.open!r} h={candle.high!r} l={candle.low!r} "
                        f"c={candle.close!r} v={candle.volume!r}) from {self.describe()}")  # fmt: skip
        return f"the candle at {when(ts)} from {self.describe()}"


def check_input_files(settings: Settings, records: list[Record], roles: tuple[str, ...] | None = None) -> None:
    """Each file the run read must hold the same bytes now (else the replay would test other data). A file
    the replay is told to read instead (`--set data.source=...`) is not the run's: it is not checked."""
    files = [r.event for r in records if r.kind is InputFile]
    recorded = {f.role: f for f in files if isinstance(f, InputFile)}
    for role, path in backtest_files(settings):
        was = recorded.get(role)
        if was is None or (roles is not None and role not in roles):
            continue  # a run written before inputs were recorded, or a file it does not read
        if path.name != Path(was.path).name:
            continue  # another file than the run's, on purpose (`--set data.source=...`)
        if not path.is_file():
            raise InputError(f"the run's {role} file {path} is gone; put it back (sha256 {was.sha256[:12]}...)")
        size, sha = file_digest(path)
        if sha != was.sha256:
            raise InputError(
                f"the run's {role} file {path} changed since the run ({size} bytes, sha256 {sha[:12]}... "
                f"≠ {was.size} bytes, {was.sha256[:12]}...); replay needs the bytes the run read"
            )


def replay_backtest(settings: Settings, records: list[Record], check: DecisionCheck) -> None:
    check_input_files(settings, records)
    core = build_core(settings, emit=check, order_id_prefix="bt")
    check.expect(r for r in records if r.kind in DECISION_TYPES)
    source = _Recent(open_source(settings.data, seed=settings.run.seed))
    check.input_at = source.at
    stream = CandleStream(source, settings.data.interval, check, settings.data.symbol)
    try:
        feed_backtest(settings, core, stream, open_marks(settings.data), check)
    except Diverged:
        raise
    except LaptopAgentsError as exc:  # the run stopped on the same bad data (its Error says so), or it did not
        errors = [e.message for r in records if r.kind is Error and isinstance(e := r.event, Error) and e.fatal]
        if str(exc) not in errors:
            check.fail("the replay stopped on an error the run did not have", "; ".join(errors) or "no error",
                       str(exc))  # fmt: skip
    finally:
        stream.close()
    check.input_at = None
    check.last_input = "the end of the data (a position still open is closed, reason end)"
    core.finish()
    check.settle()
    finished = [e for r in records if r.kind is RunFinished and isinstance(e := r.event, RunFinished)]
    final = core.broker.equity(core.last_candle.close) if core.last_candle else core.broker.cash
    if finished and finished[-1].final_equity != final:
        check.fail("the final equity", repr(finished[-1].final_equity), repr(final))
