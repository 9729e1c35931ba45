"""The backtest driver: stream candles through the TradingCore at full speed and write the run folder.

Simulated time (`SimClock`) is moved by the data. Files are streamed (equity.csv row by row, trades as
they close), so memory stays flat however long the data is. On bad data the run stops, records why
(`Error`, `RunFinished status=failed`), leaves every file it wrote valid, and re-raises for the CLI.
"""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.base.collector import fewer_collections
from laptop_agents.config.loader import redacted_dump
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import INTERVAL_MS, Candle, interval_ms, utc_minute
from laptop_agents.core.clock import Clock, SimClock
from laptop_agents.core.errors import DataError, InvariantError, LaptopAgentsError, StrategyError
from laptop_agents.core.events import (
    Error,
    Event,
    GapDetected,
    MarketDataLoaded,
    RunStarted,
)
from laptop_agents.engine.assembly import build_core
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.engine.snapshot import portfolio_snapshot
from laptop_agents.engine.trading_core import TradingCore
from laptop_agents.execution.paper_broker import PaperBroker
from laptop_agents.feeds.input_files import input_file_events
from laptop_agents.feeds.sequencer import CandleSequencer, Verdict
from laptop_agents.feeds.sources import CandleSource, RangedCandles, SortedCandles, open_marks
from laptop_agents.runs.artifacts import RunArtifacts, RunResult
from laptop_agents.runs.checkpoint import write_checkpoint
from laptop_agents.runs.compressed import compress_large
from laptop_agents.runs.run_folder import RunFolder

TRACEBACK_FILE = "traceback.txt"

BacktestResult = RunResult  # the name callers of run_backtest know


class CandleStream:
    """Feeds the core in order; counts what it drops; refuses what cannot be a sorted series."""

    def __init__(self, source: CandleSource, interval: str, emit: Callable[[Event], None], symbol: str) -> None:
        self.source = source
        self.interval = interval
        self.step = interval_ms(interval)
        self.sequencer = CandleSequencer(self.step)
        self.duplicates = 0
        self.count = 0
        self.emit = emit
        self.symbol = symbol
        self._iterator: Iterator[Candle] | None = None
        self.marked: MarkFeed | None = None
        """The mark-price feed beside the candles (`data.mark_source`), once the stream started."""

    @property
    def dropped(self) -> int:
        """Exact duplicates dropped: by the sequencer here, or by `data.sort` before."""
        source = self.source
        return self.duplicates + (source.duplicates if isinstance(source, SortedCandles | RangedCandles) else 0)

    def close(self) -> None:
        """Close the source (a CSV generator holds its file open while suspended)."""
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()

    def candles(self) -> itertools.chain[Candle]:
        iterator = self._iterator = iter(self.source)
        head = list(itertools.islice(iterator, 4))  # read ahead to check the interval
        if not head:
            raise DataError(f"data.source {self.source.describe()}: no candles in the source")
        self._check_interval(head)
        return itertools.chain(head, iterator)

    def _check_interval(self, head: list[Candle]) -> None:
        deltas = {b.ts - a.ts for a, b in itertools.pairwise(head)}
        if len(head) >= 3 and len(deltas) == 1:
            delta = deltas.pop()
            if delta != self.step and delta in INTERVAL_MS.values():
                actual = next(k for k, v in INTERVAL_MS.items() if v == delta)
                raise DataError(
                    f"data.interval is {self.interval} but the candles are {actual} apart; set --interval {actual}"
                )

    def refuse(self, verdict: Verdict, candle: Candle) -> DataError:
        last = self.sequencer.last
        where = f"data.source {self.source.describe()} line {self.source.line_of(candle)}"
        prev = last.ts if last is not None else None
        if verdict is Verdict.CONFLICT:
            return DataError(f"{where}: two different candles with ts={candle.ts}; fix the file or keep one of them")
        if verdict is Verdict.OUT_OF_ORDER:
            return DataError(
                f"{where}: ts={candle.ts} comes before the previous ts={prev}; sort the file "
                "ascending or set data.sort=true"
            )
        return DataError(
            f"{where}: ts={candle.ts} is not a whole number of {self.interval} intervals "
            f"after ts={prev}; check data.interval"
        )


def run_backtest(
    settings: Settings,
    *,
    source: CandleSource,
    folder: RunFolder,
    wall_clock: Clock,
    on_candle_hook: Callable[[Candle], None] | None = None,
    marks: CandleSource | None = None,
) -> BacktestResult:
    """Run a backtest into `folder`. Raises `LaptopAgentsError` for bad data after recording it. `marks`:
    the mark-price candles (default: those `data.mark_source` names)."""
    if marks is None:
        marks = open_marks(settings.data)
    if settings.run.run_id != folder.run_id:  # config.json names the run it belongs to, never `null`
        settings = settings.model_copy(update={"run": settings.run.model_copy(update={"run_id": folder.run_id})})
    folder.config.write_bytes(orjson.dumps(redacted_dump(settings), option=orjson.OPT_INDENT_2) + b"\n")
    run = RunArtifacts(settings, folder, wall_clock, durable=False)
    symbol = settings.data.symbol
    emit = run.log.emit
    core = build_core(settings, emit=emit, on_equity=run.curves.record, order_id_prefix="bt")
    stream = CandleStream(source, settings.data.interval, emit, symbol)
    error: LaptopAgentsError | None = None
    try:
        with fewer_collections():
            feed_backtest(settings, core, stream, marks, emit, hook=on_candle_hook, folder=folder.path)
    except LaptopAgentsError as exc:
        error = exc
    finally:
        stream.close()
    marked = stream.marked
    trade = core.finish()
    final_equity = core.broker.equity(core.last_candle.close) if core.last_candle else core.broker.cash
    curves = run.curves
    curves.finish(final_equity if trade is not None else None)
    seq = stream.sequencer
    last_ts = core.last_candle.ts if core.last_candle else 0
    emit(
        MarketDataLoaded(
            ts=last_ts,
            symbol=symbol,
            source=source.describe(),
            interval=settings.data.interval,
            candles=stream.count,
            first_ts=curves.first_ts,
            last_ts=curves.last_ts,
            gaps=seq.gaps,
            missing_candles=seq.missing,
            duplicates_dropped=stream.dropped,
        )
    )
    if marked is not None:
        run.notes.marked = (marked.matched, marked.candles)
    run.notes.prevented = Portfolio.of(core).prevented()
    message = str(error) if error is not None else None
    if error is not None:
        where = "strategy" if isinstance(error, StrategyError) else "market_data"
        emit(Error(ts=last_ts, symbol=symbol, where=where, message=str(error), fatal=True))
    summary = run.summarise(
        ts=last_ts, status="failed" if error else "ok", candles=stream.count, final_equity=final_equity, error=message
    )
    write_checkpoint(folder.state, _final_state(folder, core, run.log.seq, error))
    run.close_and_report(summary, mode="backtest", source=source.describe(), strategy=core.strategy.name, error=message)
    if settings.run.compress_over_mb is not None:
        compress_large(folder.path, over_bytes=int(settings.run.compress_over_mb * 1_000_000))
    if error is not None:
        raise error
    return RunResult(
        folder=folder,
        summary=summary,
        notes=run.notes,
        source=source.describe(),
        first_ts=curves.first_ts,
        last_ts=curves.last_ts,
        gaps=seq.gaps,
        missing_candles=seq.missing,
        duplicates_dropped=stream.dropped,
        events=run.log.seq,
    )


def feed_backtest(
    settings: Settings,
    core: TradingCore,
    stream: CandleStream,
    marks: CandleSource | None,
    emit: Callable[[Event], None],
    *,
    hook: Callable[[Candle], None] | None = None,
    folder: Path | None = None,
) -> None:
    """A backtest's inputs into its core: `RunStarted`, the files it reads (`InputFile`), then every candle
    in order, each with its mark-price candle. `la replay` takes the same path."""
    candles = stream.candles()
    first = next(candles)
    emit(
        RunStarted(
            ts=first.ts,
            symbol=stream.symbol,
            mode="backtest",
            strategy=core.strategy.name,
            source=stream.source.describe(),
            interval=settings.data.interval,
            starting_balance=settings.broker.starting_balance,
        )
    )
    for recorded in input_file_events(settings, ts=first.ts):
        emit(recorded)
    feed: Iterator[Candle] = itertools.chain((first,), candles)
    if marks is not None:
        stream.marked = MarkFeed(marks, core, stream.step)
        feed = stream.marked.feed(feed)
    drive(core, stream, feed, SimClock(), hook, folder)


class MarkFeed:
    """Hands the broker each candle's mark-price candle (same open time) before the core sees the candle; a
    candle the mark series lacks goes by its last price. Both files ascend, so they are read in step; a mark
    file that does not ascend, or whose candles are not the data's interval apart, is refused."""

    def __init__(self, source: CandleSource, core: TradingCore, step_ms: int) -> None:
        broker = core.broker
        if not isinstance(broker, PaperBroker):  # pragma: no cover - a backtest always trades on paper
            raise InvariantError("data.mark_source needs the paper broker")
        self.source, self.broker, self.step = source, broker, step_ms
        self.matched = 0
        self.candles = 0

    def feed(self, candles: Iterator[Candle]) -> Iterator[Candle]:
        marks = iter(self.source)
        try:
            mark, prev = next(marks, None), None
            for candle in candles:
                while mark is not None and mark.ts < candle.ts:
                    prev, mark = mark, next(marks, None)
                    self._check(prev, mark)
                found = mark is not None and mark.ts == candle.ts
                self.matched += found
                self.candles += 1
                self.broker.set_mark(mark if found else None)
                yield candle
        finally:
            close = getattr(marks, "close", None)
            if close is not None:
                close()  # the mark file's handle

    def _check(self, prev: Candle, mark: Candle | None) -> None:
        if mark is None:
            return
        where = f"data.mark_source {self.source.describe()} line {self.source.line_of(mark)}"
        if mark.ts <= prev.ts:
            raise DataError(f"{where}: ts={mark.ts} does not come after ts={prev.ts}; mark candles must ascend")
        if (mark.ts - prev.ts) % self.step:
            raise DataError(f"{where}: ts={mark.ts} is not a whole number of data.interval after ts={prev.ts}")


def drive(
    core: TradingCore,
    stream: CandleStream,
    candles: Iterable[Candle],
    clock: SimClock,
    hook: Callable[[Candle], None] | None,
    folder: Path | None = None,
) -> None:
    sequencer = stream.sequencer
    accept = sequencer.accept
    on_candle = core.on_candle
    step = stream.step
    expected = -1  # open time of the next consecutive candle; the common case skips the sequencer
    last: Candle | None = None
    try:
        for candle in candles:
            if candle.ts != expected:
                sequencer.last = last
                verdict = accept(candle)
                if verdict is Verdict.DUPLICATE:
                    stream.duplicates += 1
                    continue
                if verdict is Verdict.GAP:
                    gap = sequencer.gap
                    assert gap is not None
                    # The gap is reported before the candle that follows it reaches the strategy.
                    stream.emit(
                        GapDetected(
                            ts=candle.ts,
                            symbol=stream.symbol,
                            from_ts=gap.start_ts,
                            to_ts=gap.end_ts,
                            missing=gap.missing,
                        )
                    )
                elif verdict is not Verdict.NEXT:
                    raise stream.refuse(verdict, candle)
            last = candle
            expected = candle.ts + step
            clock.ms = expected  # the market has reached this candle's close (times only ascend here)
            on_candle(candle)
            if hook is not None:
                hook(candle)
    except LaptopAgentsError:
        raise
    except Exception as exc:  # the strategy's own code raised: one line, the traceback kept in the run folder
        raise strategy_failure(core, last, exc, folder) from exc
    finally:
        sequencer.last = last
        stream.count = core.candles


def strategy_failure(core: TradingCore, candle: Candle | None, exc: Exception, folder: Path | None) -> StrategyError:
    """The one line a failing strategy gets (its name, the candle, the exception); the whole traceback
    goes to `<run>/traceback.txt`."""
    at = "-" if candle is None else utc_minute(candle.ts)
    where = ""
    if folder is not None:
        (folder / TRACEBACK_FILE).write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        where = f" (traceback in {folder / TRACEBACK_FILE})"
    return StrategyError(
        f"strategy {core.strategy.name} raised on the {core.symbol} candle at {at}: {type(exc).__name__}: {exc}{where}"
    )


def _final_state(folder: RunFolder, core: TradingCore, seq: int, error: LaptopAgentsError | None) -> dict[str, Any]:
    return {
        "run_id": folder.run_id,
        "mode": "backtest",
        "status": "failed" if error else "finished",
        "event_seq": seq,
        **portfolio_snapshot(Portfolio.of(core)),
    }
