"""The report's event groups: a busy run's repeating trade cycle stays a few rows, in latest-event order."""

from __future__ import annotations

from laptop_agents.core.events import Event, Fill, OrderCancelled, OrderPlaced, OrderRejected, SignalGenerated
from laptop_agents.reporting.events_view import RecentEvents


def _signal(ts: int, reason: str = "bullish_cross", blocked: str | None = None) -> SignalGenerated:
    return SignalGenerated(ts=ts, symbol="BTCUSDT", direction="long", setup="sma", reason=reason,
                           entry_allowed=blocked is None, blocked_reason=blocked)  # fmt: skip


def _placed(ts: int) -> OrderPlaced:
    return OrderPlaced(ts=ts, symbol="BTCUSDT", client_order_id=f"bt-{ts}", side="buy", order_type="market",
                       qty=1.0, price=None, reduce_only=False, purpose="entry")  # fmt: skip


def _fill(ts: int) -> Fill:
    return Fill(ts=ts, symbol="BTCUSDT", fill_id=f"bt-{ts}-1", client_order_id=f"bt-{ts}", side="buy", qty=1.0,
                price=100.0, fee=0.0, liquidity="taker")  # fmt: skip


def _rows(recent: RecentEvents) -> list[tuple[tuple[str, str, str], int, int, int]]:
    return [(g.key, g.count, g.first_ts, g.last.ts) for g in recent.groups]


def test_a_repeating_trade_cycle_is_one_row_per_kind_ordered_by_latest_event() -> None:
    recent = RecentEvents(keep=50)
    for n in range(100):
        for event in (_signal(10 * n), _placed(10 * n + 1), _fill(10 * n + 2), _fill(10 * n + 3)):
            recent.on_event(event)
    assert _rows(recent) == [
        (("SignalGenerated", "BTCUSDT", "bullish_cross"), 100, 0, 990),
        (("OrderPlaced", "BTCUSDT", ""), 100, 1, 991),
        (("Fill", "BTCUSDT", ""), 200, 2, 993),
    ]


def test_a_key_beyond_the_lookback_starts_a_new_row_and_a_blocked_reason_keys_a_signal() -> None:
    recent = RecentEvents(keep=50, lookback=2)
    cancels: list[Event] = [
        OrderCancelled(ts=ts, symbol="BTCUSDT", client_order_id="x", reason=f"r{ts}") for ts in (1, 2, 3)
    ]
    for event in (
        _signal(0, reason="", blocked="circuit_breaker"),
        *cancels,
        _signal(4, reason="", blocked="circuit_breaker"),
    ):
        recent.on_event(event)
    assert [(key, count) for key, count, _, _ in _rows(recent)] == [
        (("SignalGenerated", "BTCUSDT", "circuit_breaker"), 1),
        (("OrderCancelled", "BTCUSDT", "r1"), 1),
        (("OrderCancelled", "BTCUSDT", "r2"), 1),
        (("OrderCancelled", "BTCUSDT", "r3"), 1),
        (("SignalGenerated", "BTCUSDT", "circuit_breaker"), 1),  # three rows back: not looked at
    ]


def test_lookback_zero_still_merges_a_repeat_of_the_latest_row() -> None:
    recent = RecentEvents(keep=5, lookback=0)
    for ts in range(3):
        recent.on_event(
            OrderRejected(ts=ts, symbol="BTCUSDT", client_order_id=None, side="buy", reason="too_small", detail="")
        )
    assert _rows(recent) == [(("OrderRejected", "BTCUSDT", "too_small"), 3, 0, 2)]
