"""The files a run writes and the listeners that feed them, in one place for backtests and live sessions.

`events.jsonl` (EventLog) is the source; `trades.csv` (TradeLog), the run notes, the recent events and
`equity.csv` plus the chart curves (Curves) are derived as events and candles arrive. At the end,
`summarise` emits `RunFinished` and computes the statistics, and `close_and_report` closes the files and
writes `summary.json` (the statistics, for `la runs`) and `summary.html`. A live session can also start
from a checkpoint (`resume`), continuing every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.config.loader import redacted_dump
from laptop_agents.config.models import Settings
from laptop_agents.core.candle import interval_ms
from laptop_agents.core.clock import Clock
from laptop_agents.core.errors import DataError
from laptop_agents.core.event_codec import parse_record
from laptop_agents.core.events import JournalRecord, PositionClosed, PositionOpened, RunFinished
from laptop_agents.core.inputs import CandleClosed
from laptop_agents.reporting.breakdown import breakdown, read_trades
from laptop_agents.reporting.curves import Curves
from laptop_agents.reporting.events_view import RecentEvents, price_decimals
from laptop_agents.reporting.metrics import RunSummary, summarise
from laptop_agents.reporting.run_notes import RunNotes
from laptop_agents.reporting.trade_log import TradeLog
from laptop_agents.reporting.trade_windows import TradeWindows
from laptop_agents.runs.event_log import EventLog
from laptop_agents.runs.journal_file import JournalFile
from laptop_agents.runs.run_folder import RunFolder


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a finished backtest or live session reports."""

    folder: RunFolder
    summary: RunSummary
    notes: RunNotes
    source: str
    first_ts: int | None
    last_ts: int | None
    gaps: int
    missing_candles: int
    duplicates_dropped: int
    events: int
    stop_reason: str = ""
    error: str | None = None
    """A live session that failed: the first task failure, in one line."""
    failed_task: str = ""


class RunArtifacts:
    def __init__(
        self,
        settings: Settings,
        folder: RunFolder,
        wall_clock: Clock,
        *,
        durable: bool,
        resume: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.folder = folder
        self.symbol_label = ",".join(settings.data.trading_symbols)
        """What run-level events and the report name as the symbol (several are joined by commas)."""
        self.log = EventLog(
            folder.events,
            run_id=folder.run_id,
            wall_clock=wall_clock,
            durable=durable,
            start_seq=resume["event_seq"] if resume else 0,
        )
        self.trades = TradeLog(
            folder.trades, keep_recent=settings.run.report_max_trades, resume=resume["trade_log"] if resume else None
        )
        self.curves = Curves(
            folder.equity,
            starting_balance=settings.broker.starting_balance,
            resume=resume["curves"] if resume else None,
        )
        self.notes = RunNotes()
        self.recent = RecentEvents(settings.run.report_recent_events)
        self.windows = TradeWindows(
            settings.data.trading_symbols[0],
            interval_ms(settings.data.interval),
            keep=settings.run.report_max_trades,
        )
        self.curves.taps.append(self.windows.on_candles)
        if resume is not None:  # the report counts the whole run: the sessions before this one too
            self._replay_events()
        self.journal = JournalFile(folder.journal, durable=durable)
        self.log.subscribe(self.recent.on_event)
        self.log.subscribe(self.trades.on_event, types=(PositionClosed,))
        self.log.subscribe(self.journal.on_event, types=(JournalRecord,))
        self.log.subscribe(self.notes.on_event, types=RunNotes.TYPES)
        self.log.subscribe(self.windows.on_event, types=(PositionOpened, PositionClosed))

    def _replay_events(self) -> None:
        """Feed the run's events so far (the file is already cut back to the checkpoint) to the notes, the
        recent-events list and the trade windows (their candles are the recorded `CandleClosed` inputs), so a
        resumed session's table and report are the whole run's."""
        windows, priced = self.windows, self.settings.data.trading_symbols[0]
        with self.folder.events.open("rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    event = parse_record(line).event
                except DataError:
                    continue  # a line this version cannot read: the report leaves it out, the run goes on
                self.notes.on_event(event)
                self.recent.on_event(event)
                kind = type(event)
                if kind is CandleClosed:
                    assert isinstance(event, CandleClosed)
                    if event.symbol == priced and not event.warmup:  # warm-up candles never reach the curves
                        windows.on_candles([event.candle()])
                elif kind is PositionOpened or kind is PositionClosed:
                    windows.on_event(event)

    def flush(self) -> None:
        """Write out the buffered trade and equity rows (the dashboard reads the files a live run is writing);
        a resume still cuts the files back to what its checkpoint accounts for."""
        self.trades.offset()
        self.curves.offset()

    def checkpoint_state(self) -> dict[str, Any]:
        """Lengths and states of the derived files, for a live checkpoint (the event log adds its own). The
        files are fsynced first: a checkpoint is durable, so the bytes it counts must be too, or a power loss
        leaves a checkpoint longer than its files and a run that cannot resume."""
        files = {
            "trades": self.trades.offset(sync=True),
            "equity": self.curves.offset(sync=True),
            "journal": self.journal.offset(sync=True),
        }
        return {
            "files": files,
            "trade_log": self.trades.state(),
            "curves": self.curves.state(),
        }

    def summarise(
        self,
        *,
        ts: int,
        status: Literal["ok", "failed", "stopped"],
        candles: int,
        final_equity: float,
        error: str | None = None,
    ) -> RunSummary:
        """Emit `RunFinished` and compute the run's statistics (call `curves.finish` first)."""
        self.log.emit(
            RunFinished(
                ts=ts,
                symbol=self.symbol_label,
                status=status,
                candles=candles,
                trades=self.trades.count,
                final_equity=final_equity,
                error=error,
            )
        )
        return summarise(self.trades, self.curves, final_equity=final_equity, candles=candles)

    def close(self) -> None:
        """Close every file without writing a report: for a session refused before it began (a checkpoint
        or strategy that does not fit)."""
        self.trades.close()
        self.journal.close()
        self.log.close()
        self.curves.close()

    def close_and_report(
        self, summary: RunSummary, *, mode: str, source: str, strategy: str, error: str | None = None
    ) -> None:
        self.trades.close()
        self.journal.close()
        self.log.close()
        atomic_write_bytes(
            self.folder.path / "summary.json",
            orjson.dumps(
                {
                    "run_id": self.folder.run_id,
                    "mode": mode,
                    "strategy": strategy,
                    "source": source,
                    "symbols": list(self.settings.data.trading_symbols),
                    "interval": self.settings.data.interval,
                    "error": error,
                    "summary": summary.as_dict(),
                    "breaker_prevented": None if self.notes.prevented is None else self.notes.prevented.as_dict(),
                },
                option=orjson.OPT_INDENT_2,
            ),
        )
        # The page's modules are imported here, when it is written: not before a backtest's first candle.
        from laptop_agents.reporting.html_report import ReportData, write_summary_html
        from laptop_agents.reporting.journal_view import read_journal

        write_summary_html(
            self.folder.summary,
            ReportData(
                run_id=self.folder.run_id,
                mode=mode,
                symbol=self.symbol_label,
                interval=self.settings.data.interval,
                source=source,
                strategy=strategy,
                summary=summary,
                equity=self.curves.chart_points(),
                prices=self.curves.chart_prices(),
                decimals=price_decimals(list(self.curves.recent)),
                trades=list(self.trades.recent),
                windows=self.windows.windows(),
                events=self.recent,
                notes=self.notes,
                breakdown=breakdown(read_trades(self.folder.trades)),
                journal=read_journal(self.folder.journal),
                error=error,
                config=redacted_dump(self.settings),
            ),
        )
