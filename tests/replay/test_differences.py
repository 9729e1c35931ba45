"""Issue 16: how `la parity` matches two runs' decisions and names a difference's cause, on hand-made events."""

from __future__ import annotations

from laptop_agents.core.events import Event, Fill, OrderPlaced, OrderRejected, PositionClosed, PositionOpened
from laptop_agents.replay.differences import compare

STEP = 60_000
T = 1_641_000_000_000 - 1_641_000_000_000 % STEP


def _entry(ts: int, cid: str, qty: float, price: float, *, fill_ts: int | None = None) -> list[Event]:
    return [
        OrderPlaced(ts=ts, symbol="X", client_order_id=cid, side="buy", order_type="market", qty=qty, price=None,
                    reduce_only=False, purpose="entry"),
        Fill(ts=fill_ts or ts, symbol="X", fill_id=f"{cid}-1", client_order_id=cid, side="buy", qty=qty,
             price=price, fee=0.0, liquidity="taker"),
        PositionOpened(ts=fill_ts or ts, symbol="X", trade_id=1, side="long", qty=qty, entry_price=price,
                       stop_price=price - 10, target_price=None, setup="s"),
    ]  # fmt: skip


def _closed(ts: int, entry_ts: int, price: float, reason: str = "stop") -> PositionClosed:
    return PositionClosed(ts=ts, symbol="X", trade_id=1, side="long", qty=1.0, entry_ts=entry_ts, entry_price=100.0,
                          exit_price=price, pnl=0.0, fees=0.0, net_pnl=0.0, funding=0.0, exit_reason=reason,  # type: ignore[arg-type]
                          setup="s")  # fmt: skip


def test_a_venue_fill_is_named_by_its_price_and_its_delay_and_its_trade_matched_by_the_decision() -> None:
    live = [
        *_entry(T, "a", 1.0, 100.2, fill_ts=T + STEP + 5_000),
        _closed(T + 3 * STEP + 7_000, T + STEP + 5_000, 95.0),
    ]
    paper = [*_entry(T, "a", 1.0, 100.0), _closed(T + 3 * STEP, T, 95.0)]
    rows = compare(live, paper, layer=1, cause_of=lambda *_: None, step_ms=STEP, venue_fills=True)
    assert [(r.what, r.cause) for r in rows] == [("fill", "fill_price"), ("fill", "latency")]
    assert "+20.0 bps" in rows[0].detail and "5.0 s after" in rows[1].detail  # the trade itself: same exit


def test_what_only_live_refused_is_named_and_what_came_after_follows_from_it() -> None:
    refused = OrderRejected(ts=T, symbol="X", client_order_id=None, side="buy", reason="kill_switch", detail="halt")
    live: list[Event] = [refused, *_entry(T + 5 * STEP, "b", 2.0, 101.0)]
    paper: list[Event] = [*_entry(T, "a", 1.0, 100.0), *_entry(T + 5 * STEP, "b", 1.5, 101.0)]
    rows = compare(live, paper, layer=1, cause_of=lambda *_: None, step_ms=STEP)
    assert [(r.what, r.cause) for r in rows] == [("entry", "live_refusal"), ("entry", "follows")]
    assert "entry at" in rows[1].detail and "live_refusal" in rows[1].detail


def test_a_close_the_venue_refused_is_not_an_entry_decision() -> None:
    close = OrderPlaced(ts=T, symbol="X", client_order_id="c", side="sell", order_type="market", qty=1.0, price=None,
                        reduce_only=True, purpose="exit")  # fmt: skip
    rejected = OrderRejected(ts=T, symbol="X", client_order_id="c", side="sell", reason="exchange_rejected",
                             detail="30018 reduce-only order with no position")  # fmt: skip
    assert compare([close, rejected], [], layer=1, cause_of=lambda *_: None, step_ms=STEP) == []
