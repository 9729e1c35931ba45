"""Keep a candle series fresh and ordered: strictly ascending, deduplicated, gaps reported.

`CandleSequencer.accept` classifies each incoming candle against the last accepted one. What to do with
each verdict is the caller's policy: a backtest refuses out-of-order files, a live feed drops stale
pushes and backfills gaps.
"""

from __future__ import annotations

from enum import Enum

from laptop_agents.core.candle import Candle, Gap


class Verdict(Enum):
    NEXT = "next"  # the expected next candle (or the first one)
    GAP = "gap"  # later than expected: `gap` says what is missing
    DUPLICATE = "duplicate"  # the same candle again: drop it
    CONFLICT = "conflict"  # same open time, different values
    OUT_OF_ORDER = "out_of_order"  # older than the last accepted candle
    MISALIGNED = "misaligned"  # not a whole number of intervals after the last candle


class CandleSequencer:
    __slots__ = ("gap", "gaps", "last", "missing", "step_ms")

    def __init__(self, step_ms: int, last: Candle | None = None) -> None:
        self.step_ms = step_ms
        self.last = last
        self.gap: Gap | None = None
        self.gaps = 0
        self.missing = 0

    def accept(self, candle: Candle) -> Verdict:
        """Classify `candle`; it becomes the last accepted candle for NEXT and GAP."""
        last = self.last
        step = self.step_ms
        if last is None:
            self.last = candle
            return Verdict.NEXT
        delta = candle.ts - last.ts
        if delta == step:
            self.last = candle
            return Verdict.NEXT
        if delta <= 0:
            if delta == 0:
                return Verdict.DUPLICATE if candle == last else Verdict.CONFLICT
            return Verdict.OUT_OF_ORDER
        if delta % step:
            return Verdict.MISALIGNED
        missing = delta // step - 1
        self.gap = Gap(last.ts + step, candle.ts - step, missing)
        self.gaps += 1
        self.missing += missing
        self.last = candle
        return Verdict.GAP
