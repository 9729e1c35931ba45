"""A5 JournalCoach: one journal record per trade idea, then its updates, with the coach's tags.

A `plan` record is written when the supervisor sends an entry (setup, side, entry, stop, target,
reward/risk, size multiplier, the market as A1 read it). The order's fate follows as records with the
same `plan_id`: `reject` (the core refused it), `cancel` (expired or cancelled by the risk gate), `fill`
(price and slippage against the plan), `exit` (reason, net PnL, R multiple, candles held).

Tags: `followed_plan_to_target`, `stopped_fast` (stopped out within `stopped_fast_bars` candles of the
fill), `stopped_out`, `trailed_out`, `closed_<reason>` for other exits, `winner`/`loser`,
`expired_unfilled`, `cancelled_by_risk_gate`, `rejected_<reason>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from laptop_agents.core.events import (
    Event,
    Fill,
    JournalRecord,
    OrderCancelled,
    OrderPlaced,
    OrderRejected,
    PositionClosed,
    PositionOpened,
)
from laptop_agents.strategy.supervisor.setups import Setup


@dataclass(slots=True)
class Plan:
    plan_id: int
    setup: str
    side: str
    entry_type: str
    entry: float
    stop: float
    target: float
    placed_bar: int
    status: str = "sent"  # sent → resting → open; removed when done
    client_order_id: str | None = None
    fill_ts: int | None = None
    trade_id: int | None = None

    @property
    def resting(self) -> bool:
        return self.status == "resting"


class JournalCoach:
    def __init__(self, emit: Callable[[Event], None], symbol: str, *, stopped_fast_bars: int) -> None:
        self._emit = emit
        self._symbol = symbol
        self._fast = stopped_fast_bars
        self.next_plan_id = 1
        self.plan: Plan | None = None
        self.step_ms = 0
        """The candle interval, learnt from the data, to count candles held."""

    def open_plan(self, ts: int, setup: Setup, *, size_mult: float, bar: int, market: dict[str, Any]) -> None:
        plan = self.plan = Plan(
            self.next_plan_id, setup.name, setup.side, setup.entry_type, setup.entry, setup.stop, setup.target, bar
        )
        self.next_plan_id += 1
        self._record(
            ts,
            plan,
            "plan",
            {
                "entry_type": setup.entry_type,
                "entry": setup.entry,
                "stop": setup.stop,
                "target": setup.target,
                "reward_risk": round(setup.reward_risk, 4),
                "size_mult": size_mult,
                "reason": setup.reason,
                **market,
            },
            [],
        )

    def entry_taken(self, client_order_id: str, entry_type: str) -> None:
        """The core gave the plan's entry its client id (before the broker: a local refusal names it)."""
        plan = self.plan
        if plan is not None and plan.client_order_id is None:
            plan.client_order_id = client_order_id
            plan.status = "sent" if entry_type == "market" else "resting"

    def on_event(self, event: Event) -> None:
        plan = self.plan
        if plan is None:
            return
        kind = type(event)
        if kind is OrderPlaced:
            assert isinstance(event, OrderPlaced)
            if event.purpose == "entry" and plan.client_order_id is None:  # a core that did not say it first
                self.entry_taken(event.client_order_id, event.order_type)
        elif kind is OrderRejected:
            assert isinstance(event, OrderRejected)
            if plan.status != "open" and event.client_order_id in (None, plan.client_order_id):
                self._record(event.ts, plan, "reject", {"reason": event.reason, "detail": event.detail},
                             [f"rejected_{event.reason}"])  # fmt: skip
                self.plan = None
        elif kind is OrderCancelled:
            assert isinstance(event, OrderCancelled)
            if event.client_order_id == plan.client_order_id and plan.status != "open":
                tag = (
                    "expired_unfilled" if event.reason == "pending_trigger_expired"
                    else "cancelled_by_risk_gate" if event.reason.startswith("risk_gate")
                    else "cancelled"
                )  # fmt: skip
                self._record(event.ts, plan, "cancel", {"reason": event.reason}, [tag])
                self.plan = None
        elif kind is Fill:
            assert isinstance(event, Fill)
            if event.client_order_id == plan.client_order_id and plan.status != "open":
                plan.status, plan.fill_ts = "open", event.ts
                d = 1.0 if plan.side == "long" else -1.0
                slippage = d * (event.price - plan.entry)
                self._record(event.ts, plan, "fill", {"price": event.price, "qty": event.qty,
                             "slippage": slippage, "fee": event.fee}, [])  # fmt: skip
        elif kind is PositionOpened:
            if plan.status == "open" and plan.trade_id is None:
                assert isinstance(event, PositionOpened)
                plan.trade_id = event.trade_id
        elif kind is PositionClosed:
            assert isinstance(event, PositionClosed)
            if plan.trade_id == event.trade_id:
                self._exit(event, plan)
                self.plan = None

    def _exit(self, event: PositionClosed, plan: Plan) -> None:
        fill_price = event.entry_price
        risk = abs(fill_price - plan.stop) or 1e-12
        d = 1.0 if plan.side == "long" else -1.0
        r_multiple = d * (event.exit_price - fill_price) / risk
        bars = (event.ts - (plan.fill_ts or event.entry_ts)) // self.step_ms if self.step_ms else 0
        reason = event.exit_reason
        if reason == "target":
            tags = ["followed_plan_to_target"]
        elif reason == "stop":
            tags = ["stopped_fast" if bars <= self._fast else "stopped_out"]
        elif reason == "trail":
            tags = ["trailed_out"]
        else:
            tags = [f"closed_{reason}"]
        tags.append("winner" if event.net_pnl > 0 else "loser")
        self._record(
            event.ts,
            plan,
            "exit",
            {
                "exit_reason": reason,
                "exit_price": event.exit_price,
                "net_pnl": event.net_pnl,
                "r_multiple": round(r_multiple, 4),
                "bars_held": bars,
                "trade_id": event.trade_id,
            },
            tags,
        )

    def _record(self, ts: int, plan: Plan, kind: Any, detail: dict[str, Any], tags: list[str]) -> None:
        self._emit(
            JournalRecord(
                ts=ts,
                symbol=self._symbol,
                plan_id=plan.plan_id,
                kind=kind,
                setup=plan.setup,
                side="long" if plan.side == "long" else "short",
                detail=detail,
                tags=tags,
            )
        )

    def state(self) -> dict[str, Any]:
        return {
            "next_plan_id": self.next_plan_id,
            "plan": None if self.plan is None else asdict(self.plan),
            "step_ms": self.step_ms,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.next_plan_id = int(state["next_plan_id"])
        self.plan = None if state["plan"] is None else Plan(**state["plan"])
        self.step_ms = int(state["step_ms"])
