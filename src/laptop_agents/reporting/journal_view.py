"""The supervisor's journal as the report shows it: each plan with what became of it, and its totals.

`journal.jsonl` holds a `plan` record per trade idea, then its `fill`, `exit`, `cancel` or `reject` under
the same `plan_id`. Read once at report time, streaming: totals over every plan, rows for the last `keep`.
A line that does not parse (a torn write) is counted and skipped.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass(slots=True)
class Plan:
    plan_id: int
    ts: int
    setup: str
    side: str
    plan: dict[str, Any] = field(default_factory=dict)
    fill: dict[str, Any] | None = None
    outcome: str = "open"
    """"exit", "reject", "cancel", or "open" (planned, nothing after it yet)."""
    result: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    @property
    def r_multiple(self) -> float | None:
        value = self.result.get("r_multiple")
        return float(value) if isinstance(value, int | float) else None


@dataclass(slots=True)
class JournalView:
    plans: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    tags: Counter[str] = field(default_factory=Counter)
    r_sum: float = 0.0
    r_count: int = 0
    skipped: int = 0
    recent: list[Plan] = field(default_factory=list)

    @property
    def mean_r(self) -> float | None:
        return self.r_sum / self.r_count if self.r_count else None


def read_journal(path: Path, *, keep: int = 300) -> JournalView | None:
    """The journal of a run, or None when the run has none (a strategy that does not journal)."""
    if not path.exists():
        return None
    view = JournalView()
    recent: OrderedDict[int, Plan] = OrderedDict()
    with path.open("rb") as handle:
        for line in handle:
            try:
                record = orjson.loads(line)
                kind, plan_id = record["kind"], int(record["plan_id"])
                detail, tags = dict(record.get("detail") or {}), list(record.get("tags") or [])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                view.skipped += 1
                continue
            view.tags.update(tags)
            if kind == "plan":
                view.plans += 1
                recent[plan_id] = Plan(plan_id, int(record["ts"]), str(record["setup"]), str(record["side"]), detail)
                recent[plan_id].tags.extend(tags)
                while len(recent) > keep:
                    recent.popitem(last=False)
                continue
            if kind in ("exit", "reject", "cancel"):
                view.outcomes[kind] += 1
            if kind == "reject":
                view.refusals[str(detail.get("reason", "?"))] += 1
            if kind == "exit" and isinstance(detail.get("r_multiple"), int | float):
                view.r_sum += float(detail["r_multiple"])
                view.r_count += 1
            plan = recent.get(plan_id)
            if plan is None:
                continue
            plan.tags.extend(t for t in tags if t not in plan.tags)
            if kind == "fill":
                plan.fill = detail
            else:
                plan.outcome, plan.result = kind, detail
    view.recent = list(recent.values())
    return view
