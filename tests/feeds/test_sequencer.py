"""The sequencer classifies each candle against the last one accepted."""

from __future__ import annotations

from laptop_agents.core.candle import Gap
from laptop_agents.feeds.sequencer import CandleSequencer, Verdict
from tests.helpers import MINUTE, candle


def test_verdicts() -> None:
    seq = CandleSequencer(MINUTE)
    c0, c1 = candle(0, 10, 11, 9, 10), candle(1, 10, 11, 9, 10.5)
    assert seq.accept(c0) is Verdict.NEXT
    assert seq.accept(c1) is Verdict.NEXT
    assert seq.accept(c1) is Verdict.DUPLICATE
    assert seq.accept(candle(1, 10, 11, 9, 10.2)) is Verdict.CONFLICT
    assert seq.accept(c0) is Verdict.OUT_OF_ORDER
    assert seq.accept(candle(5, 10, 11, 9, 10)) is Verdict.GAP
    assert seq.gap == Gap(candle(2, 1, 1, 1, 1).ts, candle(4, 1, 1, 1, 1).ts, 3)
    assert (seq.gaps, seq.missing) == (1, 3)
    late = candle(5, 10, 11, 9, 10)
    assert seq.accept(type(late)(late.ts + 90_000, 10, 11, 9, 10, 1)) is Verdict.MISALIGNED
    assert seq.last == late
