"""`RejectedCandle`: a candle a source had to refuse, named by its open time so its place is not lost.

A venue's push or history row can break the OHLC rules (`Candle` refuses it). Dropping it silently would
leave a hole the next candle only reveals an interval later; handing out its open time and the broken
rule instead lets the session fetch the venue's record of that candle at once (§6 #6).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RejectedCandle:
    """The open time (epoch ms) of the candle that was refused, and the rule it broke, in words."""

    ts: int
    reason: str
