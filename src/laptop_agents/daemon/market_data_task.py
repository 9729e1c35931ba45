"""The market-data task of the AsyncRunner: one stream for every symbol, each symbol's series kept fresh,
ordered and whole before its core sees it.

Duplicates and out-of-order candles are dropped (counted in the symbol's `MarketDataStats`). A gap of more
than 1.5 intervals is backfilled over REST, in order, *before* the candle that revealed it: the backfill
runs in its own task and holds back only its symbol's later candles (`SymbolPipe.held`), so the other
symbols keep flowing. A failed backfill is a non-fatal `Error`, retried with capped backoff. A feed that
assembles candles from pushes (`confirms_candles`) has each one confirmed with the venue's record (REST)
before the core sees it, consecutive candles in one call: trades land after a candle's last push, and a
final push can be lost or reordered, so a pushed candle may hold only part of its trades. With
`halt_while_backfilling` (live-exchange) the symbol's entries are halted (`backfilling`) from the gap
until its core has processed the backfilled candles and those that arrived meanwhile: they are history,
not a moment to trade on (exits and protective stops still work).

A candle the stream refused (broken OHLC, a `RejectedCandle`) is counted, said (`CandleRejected`) and its
record fetched over REST at once, in its place in the order; the strategy only ever sees the venue's valid
record. Candles the venue still lacks after a backfill (asked again shortly) are a hole in its own
history (`GapUnfilled`): the strategy is never fed a made-up candle, and its entries are halted
(`data_hole`) until enough candles past the hole for its lookback (`warmup_candles`) have reached it, so
no signal comes from indicators whose window spans the hole. Exits and protective stops still work.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from laptop_agents.base.crash_points import CrashPoints
from laptop_agents.base.retry import Backoff
from laptop_agents.core.candle import Candle, interval_ms, utc_minute
from laptop_agents.core.errors import LaptopAgentsError
from laptop_agents.core.events import CandleRejected, Error, GapBackfilled, GapDetected, GapUnfilled
from laptop_agents.core.rejected import RejectedCandle
from laptop_agents.daemon.symbol_pipe import SymbolPipe
from laptop_agents.feeds.market_data import MarketDataFeed
from laptop_agents.runs.event_log import EventLog

HALT_BACKFILL = "backfilling"
HALT_HOLE = "data_hole"
HOLE_RETRIES = 2
"""After a backfill, what is still missing is asked for again this often (quickly): a venue may list a
candle a moment late. What it lacks then is a hole in its history."""
CONFIRM_RETRY_S = 0.2
RETRY_MAX_S = 60.0
"""The longest wait between two tries of a backfill or a confirmation (the same backoff as reconnects)."""
CONFIRM_QUIET_TRIES = 3
"""A venue that needs longer than a few quick retries to list a closed candle is worth a line."""


class MarketDataTask:
    def __init__(
        self,
        feed: MarketDataFeed,
        pipes: dict[str, SymbolPipe],
        *,
        interval: str,
        log: EventLog,
        backfill_retry_s: float,
        on_fresh: Callable[[SymbolPipe], None],
        halt_while_backfilling: bool = False,
        crash: CrashPoints | None = None,
        on_failed: Callable[[str, BaseException | None], None],
    ) -> None:
        """`on_fresh(pipe)`: a candle went to that symbol's core (the staleness guard's clock);
        `on_failed(name, exc)`: a backfill task died of something other than the exchange failing."""
        self.feed = feed
        self.confirmations = {"confirmed": 0, "corrected": 0}
        """Closed candles checked against the venue's record, and how many of them the record changed."""
        self.pipes = pipes
        self._interval = interval
        self._step = interval_ms(interval)
        self.log = log
        self._retry_s = backfill_retry_s
        self._on_fresh = on_fresh
        self._on_failed = on_failed
        self._halt = halt_while_backfilling
        self._crash = crash or CrashPoints(None)
        self.backfill_errors = 0

    async def run(self) -> None:
        pipes, step = self.pipes, self._step
        confirming = self.feed.confirms_candles
        async for symbol, item in self.feed.stream(list(pipes), self._interval):
            pipe = pipes.get(symbol)
            if pipe is None:
                continue
            if type(item) is RejectedCandle:
                self._rejected(pipe, item)
            if pipe.timed:
                pipe.arrived_ts, pipe.arrived_at = item.ts, time.monotonic()
            if pipe.held is not None:  # this symbol is catching up (a gap, a confirmation): keep the order
                pipe.held.append(item)
                continue
            last = pipe.last_close_ts
            if last is not None and item.ts <= last:
                if type(item) is Candle:
                    self._drop(pipe, item, last)
                continue
            if type(item) is not Candle or confirming or (last is not None and item.ts - last > 1.5 * step):
                pipe.held = deque((item,))
                pipe.catch_up = asyncio.create_task(self._catch_up(pipe), name=f"catch_up:{symbol}")
                pipe.catch_up.add_done_callback(self._catch_up_done)
                continue
            await self._deliver(pipe, item)
        for pipe in pipes.values():  # a replay ended: what is being backfilled still reaches the core
            if pipe.catch_up is not None:
                await pipe.catch_up

    async def _deliver(self, pipe: SymbolPipe, candle: Candle) -> None:
        await self._put(pipe, candle)
        pipe.last_close_ts = candle.ts
        pipe.md.candles += 1
        self._on_fresh(pipe)

    async def _put(self, pipe: SymbolPipe, candle: Candle) -> None:
        """Queue `candle` for the core, the hole halt lifted first once its window is past the hole."""
        until = pipe.hole_until
        if until is not None and candle.ts > until:
            pipe.hole_until = None
            await pipe.queue.put(self._hole_item(pipe, None, None))
        await pipe.queue.put(candle)

    def _rejected(self, pipe: SymbolPipe, rejected: RejectedCandle) -> None:
        pipe.md.invalid += 1
        self.log.emit(CandleRejected(ts=rejected.ts, symbol=pipe.symbol, reason=rejected.reason, source="stream"))

    @staticmethod
    def _drop(pipe: SymbolPipe, candle: Candle, last: int) -> None:
        if candle.ts == last:
            pipe.md.duplicates += 1
        else:
            pipe.md.out_of_order += 1

    async def _catch_up(self, pipe: SymbolPipe) -> None:
        """Backfill the gap before the first held item, fetch the record of a refused candle, confirm the
        pushed candles with the venue's record when the feed asks for it (consecutive ones in one call),
        then pass them on in order (any of them may reveal another gap); the market-data task keeps
        appending meanwhile."""
        held = pipe.held
        assert held is not None
        step, halted = self._step, False
        while held:
            item = held.popleft()
            last = pipe.last_close_ts
            if last is not None:
                if item.ts <= last:
                    if type(item) is Candle:
                        self._drop(pipe, item, last)
                    continue
                if item.ts - last > 1.5 * step:
                    if self._halt and not halted:
                        halted = True
                        detail = f"catching up {item.ts - last} ms over REST"
                        await pipe.queue.put(self._halt_entries(pipe, detail))
                    await self._backfill(pipe, last, item.ts)
            if type(item) is RejectedCandle:
                await self._refetch(pipe, item)
            else:
                assert type(item) is Candle
                batch = [item]  # with it, the candles that arrived meanwhile (in order, no gap between)
                while held and type(held[0]) is Candle and held[0].ts == batch[-1].ts + step:
                    batch.append(held.popleft())  # type: ignore[arg-type]
                if self.feed.confirms_candles:
                    batch = await self._confirm(pipe.symbol, batch)
                for ready in batch:
                    await self._deliver(pipe, ready)
            if halted:  # past the gap and what arrived during its backfill: the core may decide again
                halted = False
                await pipe.queue.put(self._halt_entries(pipe, None))
        pipe.held = None
        pipe.catch_up = None

    async def _refetch(self, pipe: SymbolPipe, rejected: RejectedCandle) -> None:
        """The venue's REST record of a candle the stream refused, in its place; none (or a broken one)
        even when asked again: a hole of one candle."""
        fetched = await self._fetch_whole(pipe.symbol, rejected.ts, rejected.ts + self._step)
        if fetched:
            pipe.md.refetched += 1
            await self._deliver(pipe, fetched[0])
            return
        await self._hole(pipe, rejected.ts, rejected.ts)
        pipe.last_close_ts = rejected.ts

    async def _confirm(self, symbol: str, batch: list[Candle]) -> list[Candle]:
        """The venue's record of `batch`, however long it takes: a venue that has no record of a bucket yet
        is asked again shortly (its trades may still be landing); repeated failures are reported
        (non-fatal `Error`) and retried with capped backoff, while the strategy waits."""
        delays, failures = Backoff(initial_s=CONFIRM_RETRY_S, max_s=RETRY_MAX_S).delays(), 0
        while True:
            try:
                confirmed = await self.feed.confirm(symbol, self._interval, batch)
            except LaptopAgentsError as exc:
                failures += 1
                if failures == CONFIRM_QUIET_TRIES:
                    self.backfill_errors += 1
                    self.log.emit(Error(ts=batch[-1].ts, symbol=symbol, where="confirm", fatal=False,
                                        message=f"{exc}; retrying until the venue has it"))  # fmt: skip
                await asyncio.sleep(next(delays))
            else:
                self.confirmations["confirmed"] += len(confirmed)
                self.confirmations["corrected"] += sum(a != b for a, b in zip(batch, confirmed, strict=True))
                return confirmed

    @staticmethod
    def _halt_entries(pipe: SymbolPipe, detail: str | None, key: str = HALT_BACKFILL) -> Callable[[], None]:
        """A queue item: the core task sets (`detail`) or lifts (None) the halt `key` when it gets there,
        so exactly the candles it is meant for (from a gap to the end of its catch-up) are seen halted; a
        hole's halt has its own (`_hole_item`)."""
        halts = pipe.core.halts

        def apply() -> None:
            if detail is None:
                halts.pop(key, None)
            else:
                halts[key] = detail

        return apply

    def _catch_up_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._on_failed(task.get_name(), task.exception())

    async def _backfill(self, pipe: SymbolPipe, last: int, end: int) -> None:
        """Fill the open times after `last` and before `end` over REST, in order; what the venue lacks is a
        hole (halt queued where it starts). Everything before `end` is then settled."""
        symbol, step = pipe.symbol, self._step
        start = last + step
        missing = (end - start) // step
        pipe.md.gaps += 1
        self.log.emit(GapDetected(ts=end, symbol=symbol, from_ts=start, to_ts=end - step, missing=missing))
        began = time.monotonic()
        fetched = await self._fetch_whole(symbol, start, end)
        self._crash.at("backfill")
        expected = start
        for filler in fetched:
            if filler.ts > expected:
                await self._hole(pipe, expected, filler.ts - step)
            await self._put(pipe, filler)
            expected = filler.ts + step
        if expected < end:
            await self._hole(pipe, expected, end - step)
        pipe.md.backfilled += len(fetched)
        pipe.last_close_ts = end - step
        self.log.emit(
            GapBackfilled(
                ts=end,
                symbol=symbol,
                from_ts=start,
                to_ts=end - step,
                count=len(fetched),
                duration_ms=int((time.monotonic() - began) * 1000),
            )
        )

    async def _hole(self, pipe: SymbolPipe, first: int, last: int) -> None:
        """Open times `first`..`last` are missing from the venue's history: said (`GapUnfilled`, before
        any candle after it is queued: an alert of it comes before the halt's lifting can), and the symbol's
        entries halted (in candle order) until its strategy's lookback is past them; the halt is said once,
        however many holes extend it."""
        step = self._step
        lookback = pipe.core.strategy.warmup_candles()
        new = pipe.hole_until is None
        pipe.hole_until = until = max(pipe.hole_until or 0, last + lookback * step)
        detail = None
        if new:
            detail = (f"the venue has no candles from {utc_minute(first)} to {utc_minute(last)}: entries wait "
                      f"until {lookback} candles past the hole (the strategy's lookback) have been seen")  # fmt: skip
        await pipe.queue.put(self._hole_item(pipe, detail, until))
        pipe.md.holes += 1
        self.log.emit(GapUnfilled(ts=last + step, symbol=pipe.symbol, from_ts=first, to_ts=last,
                                  missing=(last - first) // step + 1, halt_candles=lookback))  # fmt: skip

    @staticmethod
    def _hole_item(pipe: SymbolPipe, detail: str | None, until: int | None) -> Callable[[], None]:
        """A queue item for the hole's halt: set it (`detail`), extend it (neither), or lift it (`until`
        None). `pipe.held_until` follows in candle order, so a checkpoint saves where the halt ends as the
        core stands, not as the market data ahead of it in the queue does."""
        halts = pipe.core.halts

        def apply() -> None:
            pipe.held_until = until
            if until is None:
                halts.pop(HALT_HOLE, None)
            elif detail is not None:
                halts[HALT_HOLE] = detail

        return apply

    def resume_hole(self, pipe: SymbolPipe, until: int) -> None:
        """After a restart inside a hole's halt (`hole_until` from the checkpoint): entries stay halted
        until the strategy's window is past the hole, as they would have without the restart (the restored
        indicators still hold the candles around it)."""
        pipe.hole_until = until
        detail = (f"the venue's history had a hole before the restart: entries wait until the candle of "
                  f"{utc_minute(until)} (the strategy's lookback past it) has been seen")  # fmt: skip
        pipe.queue.put_nowait(self._hole_item(pipe, detail, until))

    async def _fetch_whole(self, symbol: str, start: int, end: int) -> list[Candle]:
        """The candles opening in [start, end), ascending, each once: `_fetch_gap`, then what is still
        missing asked for again (`HOLE_RETRIES`, shortly apart). What it returns is all the venue has."""
        step = self._step
        got = {c.ts: c for c in await self._fetch_gap(symbol, start, end) if start <= c.ts < end}
        delays = Backoff(initial_s=CONFIRM_RETRY_S, max_s=RETRY_MAX_S).delays()
        for _ in range(HOLE_RETRIES):
            wanted = [ts for ts in range(start, end, step) if ts not in got]
            if not wanted:
                break
            await asyncio.sleep(next(delays))
            for c in await self._fetch_gap(symbol, wanted[0], wanted[-1] + step):
                if start <= c.ts < end:
                    got.setdefault(c.ts, c)
        return [got[ts] for ts in sorted(got)]

    async def _fetch_gap(self, symbol: str, start: int, end: int) -> list[Candle]:
        """The missing candles, however long the exchange takes to give them: a failed backfill is reported
        (non-fatal `Error`) and retried with capped backoff, while the candle that revealed the gap waits.
        The strategy never skips over a hole; meanwhile the staleness guard halts entries."""
        delays = Backoff(initial_s=self._retry_s, max_s=RETRY_MAX_S).delays()
        while True:
            delay = next(delays)
            try:
                return await self.feed.backfill(symbol, self._interval, start, end)
            except LaptopAgentsError as exc:
                self.backfill_errors += 1
                self.log.emit(
                    Error(
                        ts=end,
                        symbol=symbol,
                        where="backfill",
                        fatal=False,
                        message=f"{exc}; retrying in {delay:.2g} s",
                    )
                )
                await asyncio.sleep(delay)
