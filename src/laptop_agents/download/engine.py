"""What a download fetches, and the fetching: only what the file lacks, window by window, resumable.

A file holding `[first, last]` gets the candles before `first` (when `--since` reaches further back) and
after `last` (up to `--until`, or the newest closed candle). Each window is appended as soon as it arrives,
so an interrupted download keeps everything it fetched and the same command continues after it. A venue
that stops answering is waited for (the transport's retries, then a few slower rounds), then the download
stops with the file valid and says how to continue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from laptop_agents.base.retry import Backoff
from laptop_agents.core.candle import Candle
from laptop_agents.core.errors import InputError, LaptopAgentsError
from laptop_agents.core.timespec import format_ms
from laptop_agents.download.candle_file import CandleFile, Manifest, timestamps
from laptop_agents.download.gaps import gap_report
from laptop_agents.download.progress import Progress
from laptop_agents.download.venues import HistoryVenue
from laptop_agents.exchange.bitunix.errors import ExchangeError, is_retryable

T = TypeVar("T")
DAY_MS = 86_400_000
STALLED = Backoff(initial_s=2.0, max_s=30.0)
"""After the transport's own retries gave up: this many slower rounds before the download stops."""
STALLED_ROUNDS = 6


def aligned(ts: int, step: int) -> int:
    """The first bucket at or after `ts`. Up to a day, buckets are multiples of the interval since the epoch;
    longer ones are not (Binance's weeks open on Mondays, the epoch's on a Thursday): `ts` itself."""
    return -(-ts // step) * step if step <= DAY_MS else ts


class DownloadStalled(LaptopAgentsError):
    """The venue stopped answering; the file is valid and the same command continues."""


@dataclass
class Request:
    symbol: str
    interval: str
    step: int
    since: int
    until: int | None


@dataclass
class Outcome:
    added: int
    """Candles this run wrote."""
    manifest: Manifest
    up_to_date: bool


async def download(
    venue: HistoryVenue, file: CandleFile, manifest: Manifest, request: Request, progress: Progress
) -> Outcome:
    symbol, interval, step = request.symbol, request.interval, request.step
    await venue.check(symbol, interval)
    forming = await patient(lambda: venue.forming(symbol, interval))
    if forming is None:
        raise InputError(f"--symbol {symbol}: {venue.name} has no {interval} candles for it")
    end = forming if request.until is None else min(request.until, forming)
    start = aligned(request.since, step)
    if start >= end:
        raise InputError(
            f"--since {format_ms(request.since)}: nothing closed between it and {format_ms(end)} on {venue.name}"
        )
    span = file.span() if file.exists() else None
    ranges: list[tuple[str, int, int]] = []
    if span is None:
        ranges.append(("tail", start, end))
    else:
        first, last, _rows = span
        known_start = manifest.history_starts is not None and first <= manifest.history_starts
        if start < first and not known_start:  # nothing before the venue's first candle, once it is known
            ranges.append(("head", start, first))
        if last + step < end:
            ranges.append(("tail", last + step, end))
    added = 0
    if ranges:
        added = await _fetch_ranges(venue, file, manifest, request, ranges, start, progress, fresh=span is None)
    span = file.span() if file.exists() else None
    if span is None:
        raise InputError(f"--symbol {symbol}: {venue.name} has no {interval} candles from {format_ms(start)}")
    manifest.first, manifest.last, manifest.rows = span
    manifest.rejected += venue.rejected  # over every run: their buckets stay gaps
    manifest.gaps = gap_report(timestamps(file.path), step, where=str(file.path))
    manifest.complete = True
    manifest.save_beside(file.path)
    return Outcome(added, manifest, up_to_date=not ranges)


async def _fetch_ranges(
    venue: HistoryVenue,
    file: CandleFile,
    manifest: Manifest,
    request: Request,
    ranges: list[tuple[str, int, int]],
    start: int,
    progress: Progress,
    *,
    fresh: bool,
) -> int:
    symbol, interval, step = request.symbol, request.interval, request.step
    progress.begin(sum((hi - lo) // step for _, lo, hi in ranges))
    manifest.complete = False
    manifest.save_beside(file.path)
    added = 0
    for where, lo, hi in ranges:
        first_ts = await patient(partial(venue.first_at_or_after, symbol, interval, lo, hi))
        if first_ts is None:
            if where == "head":  # nothing before the file's first row: the venue's history starts there
                manifest.history_starts = hi
            progress.skip((hi - lo) // step)
            continue
        if (where == "head" or fresh) and first_ts > start:
            manifest.history_starts = first_ts
        progress.skip((first_ts - lo) // step)
        if where == "head":
            added += await _fetch_head(venue, file, request, first_ts, hi, progress)
        else:
            if not file.exists():
                file.create()
            added += await _fetch(venue, request, first_ts, hi, file.append, progress)
    progress.end()
    return added


async def _fetch_head(
    venue: HistoryVenue, file: CandleFile, request: Request, lo: int, hi: int, progress: Progress
) -> int:
    """Candles before the file's first row go to its side file (resumed when it holds the same start), then
    are joined to the front."""
    done = file.head_span(lo, hi)
    resume_from = lo if done is None else done[1] + request.step
    if done is not None:
        progress.skip((resume_from - lo) // request.step)
    added = await _fetch(venue, request, resume_from, hi, file.append_head, progress)
    file.join_head()
    return added + (0 if done is None else done[2])


async def _fetch(
    venue: HistoryVenue,
    request: Request,
    lo: int,
    hi: int,
    write: Callable[[list[Candle]], None],
    progress: Progress,
) -> int:
    symbol, interval, step = request.symbol, request.interval, request.step
    width = venue.page * step
    added = 0
    cursor = lo
    while cursor < hi:
        stop = min(cursor + width, hi)
        candles = await patient(partial(venue.window, symbol, interval, cursor, stop))
        write(candles)
        added += len(candles)
        progress.advance((stop - cursor) // step, candles[-1].ts if candles else None)
        cursor = stop
    return added


async def patient(call: Callable[[], Awaitable[T]]) -> T:
    """`call`, given a few more slow rounds when the venue is unreachable or rate limiting past the
    transport's retries."""
    delays = STALLED.delays()
    for round_ in range(STALLED_ROUNDS + 1):
        try:
            return await call()
        except ExchangeError as exc:
            if not is_retryable(exc):
                raise
            if round_ == STALLED_ROUNDS:
                raise DownloadStalled(str(exc)) from exc
            await asyncio.sleep(next(delays))
    raise AssertionError("unreachable")  # pragma: no cover
