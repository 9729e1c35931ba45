"""The tables of `summary.html`, as escaped HTML: breakdowns, trades, the supervisor's journal, events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from laptop_agents.core.events import Event, PositionClosed
from laptop_agents.reporting.breakdown import Breakdown, Group
from laptop_agents.reporting.events_view import RecentEvents, event_details
from laptop_agents.reporting.journal_view import JournalView
from laptop_agents.reporting.timefmt import fmt_ts


def num(value: float | None, fmt: str = ",.2f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{fmt}}{suffix}"


def signed_css(value: float | None) -> str:
    return "" if value is None or value == 0 else "pos" if value > 0 else "neg"


def _table(head: Sequence[str], rows: Iterable[str], *, left: int = 1) -> str:
    cells = "".join(f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(head))
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _group_row(g: Group, label: str | None = None) -> str:
    return (
        f'<tr><td class="l">{escape(label if label is not None else g.label)}</td><td>{g.trades:,}</td>'
        f'<td>{num(g.win_rate_pct, ".1f", " %")}</td><td class="{signed_css(g.net)}">{g.net:+,.2f}</td>'
        f"<td>{num(g.average, '+,.2f')}</td><td>{num(g.profit_factor, '.2f')}</td><td>{g.fees:,.2f}</td></tr>"
    )


_GROUP_HEAD = ("trades", "win rate", "net PnL (USDT)", "per trade", "profit factor", "fees")


def group_table(title: str, groups: dict[str, Group], *, order: Sequence[str] | None = None) -> str:
    if not groups:
        return f'<h3>{escape(title)}</h3><p class="muted">No trades.</p>'
    keys = list(order) if order is not None else sorted(groups, key=lambda k: (-groups[k].trades, k))
    rows = [_group_row(groups[k]) for k in keys if k in groups]
    return f"<h3>{escape(title)}</h3>" + _table((title.split(" ")[-1], *_GROUP_HEAD), rows)


def period_tables(b: Breakdown) -> str:
    """Month open; week and day folded (a year has 365 days)."""
    month = group_table("By month", b.by_month, order=sorted(b.by_month))
    week = group_table("By week", b.by_week, order=sorted(b.by_week))
    day = group_table("By day", b.by_day, order=sorted(b.by_day))
    return (
        f'<div class="scroll">{month}</div>'
        f'<details><summary>by week ({len(b.by_week):,})</summary><div class="scroll">{week}</div></details>'
        f'<details><summary>by day ({len(b.by_day):,})</summary><div class="scroll">{day}</div></details>'
    )


def category_tables(b: Breakdown) -> str:
    sides = [s for s in ("long", "short") if s in b.by_side]
    parts = [
        group_table("Long vs short: side", b.by_side, order=sides),
        group_table("By exit reason", b.by_reason),
        group_table("By setup", b.by_setup),
        group_table("By symbol", b.by_symbol),
    ]
    return '<div class="cols">' + "".join(f"<div>{p}</div>" for p in parts) + "</div>"


def trade_table(trades: Sequence[PositionClosed], decimals: int) -> str:
    if not trades:
        return '<p class="muted">No trades.</p>'
    head = ("#", "symbol", "side", "entry time (UTC)", "entry", "exit time (UTC)", "exit", "qty", "pnl", "fees",
            "net", "reason", "setup")  # fmt: skip
    rows = []
    for t in reversed(trades):
        rows.append(
            f'<tr data-trade="{t.trade_id}"><td class="l">{t.trade_id}</td><td class="l">{escape(t.symbol)}</td>'
            f'<td class="l">{t.side}</td><td>{fmt_ts(t.entry_ts)}</td><td>{t.entry_price:,.{decimals}f}</td>'
            f"<td>{fmt_ts(t.ts)}</td><td>{t.exit_price:,.{decimals}f}</td><td>{t.qty:g}</td><td>{t.pnl:+,.2f}</td>"
            f'<td>{t.fees:,.2f}</td><td class="{signed_css(t.net_pnl)}">{t.net_pnl:+,.2f}</td>'
            f'<td class="l">{escape(t.exit_reason)}</td><td class="l">{escape(t.setup)}</td></tr>'
        )
    return _table(head, rows, left=3)


def _event_row(first_ts: int, last: Event, count: int, decimals: int) -> str:
    when = fmt_ts(last.ts) if count == 1 or first_ts == last.ts else f"{fmt_ts(first_ts)} → {fmt_ts(last.ts)}"
    times = f" × {count:,}" if count > 1 else ""
    symbol = escape(last.symbol) if "," not in last.symbol else "all"
    return (
        f'<tr><td class="l">{when}</td><td class="l">{type(last).__name__}{times}</td><td class="l">{symbol}</td>'
        f"<td>{escape(event_details(last, decimals))}</td></tr>"
    )


def events_tables(events: RecentEvents, decimals: int) -> str:
    head = ("market time (UTC)", "event", "symbol", "details")
    notable = ""
    if events.notable:
        more = f" (the last {len(events.notable)} of {events.notable_seen:,})" if events.notable_seen > len(
            events.notable) else ""  # fmt: skip
        rows = [_event_row(e.ts, e, 1, decimals) for e in reversed(events.notable)]
        notable = f"<h3>Breaker, kill switch, errors, resumes{more}</h3>" + _table(head, rows, left=4)
    if not events.groups:
        return notable + '<p class="muted">No events.</p>'
    rows = [_event_row(g.first_ts, g.last, g.count, decimals) for g in reversed(events.groups)]
    latest = "<h3>Latest events (repeats grouped)</h3>" + f'<div class="scroll">{_table(head, rows, left=4)}</div>'
    return notable + latest


def _fmt_detail(detail: dict[str, object], key: str, decimals: int) -> str:
    value = detail.get(key)
    return f"{value:,.{decimals}f}" if isinstance(value, int | float) else ""


def journal_section(view: JournalView | None, decimals: int) -> str:
    if view is None:
        return ""
    outcomes = " · ".join(f"{n:,} {kind}" for kind, n in sorted(view.outcomes.items())) or "none yet"
    refusals = ", ".join(f"{n:,} {r}" for r, n in view.refusals.most_common()) or "none"
    tags = "".join(f'<span class="tag">{escape(t)} {n:,}</span>' for t, n in view.tags.most_common(12))
    summary = (
        f'<div class="card"><b>{view.plans:,} plans</b>: {escape(outcomes)} · mean R of exits '
        f"{num(view.mean_r, '+.2f')} · refused: {escape(refusals)}<br>coach's tags: {tags or 'none'}</div>"
    )
    rows = []
    for p in reversed(view.recent):
        plan = p.plan
        if p.outcome == "exit":
            net = p.result.get("net_pnl")
            outcome = f"{p.result.get('exit_reason', 'exit')} at {_fmt_detail(p.result, 'exit_price', decimals)}"
            css = signed_css(net if isinstance(net, float) else None)
            result = f"{net:+,.2f}" if isinstance(net, int | float) else ""
        elif p.outcome in ("reject", "cancel"):
            outcome, css, result = f"{p.outcome}: {p.result.get('reason', '')}", "", ""
        else:
            outcome, css, result = ("filled, open" if p.fill else "planned"), "", ""
        filled = _fmt_detail(p.fill, "price", decimals) if p.fill else ""
        r = p.r_multiple
        rows.append(
            f'<tr><td class="l">{p.plan_id}</td><td class="l">{fmt_ts(p.ts)}</td><td class="l">{escape(p.setup)}</td>'
            f'<td class="l">{escape(p.side)}</td><td>{_fmt_detail(plan, "entry", decimals)}</td>'
            f"<td>{_fmt_detail(plan, 'stop', decimals)}</td><td>{_fmt_detail(plan, 'target', decimals)}</td>"
            f"<td>{num(plan.get('reward_risk') if isinstance(plan.get('reward_risk'), float) else None, '.2f')}</td>"
            f'<td>{filled}</td><td class="l">{escape(outcome)}</td><td class="{css}">{result}</td>'
            f'<td class="{signed_css(r)}">{num(r, "+.2f")}</td>'
            f'<td class="l">{"".join(f"<span class=tag>{escape(t)}</span>" for t in p.tags)}</td></tr>'
        )
    shown = f"the last {len(view.recent):,} of {view.plans:,}" if len(view.recent) < view.plans else "every"
    head = ("plan", "time (UTC)", "setup", "side", "entry", "stop", "target", "R:R", "filled", "outcome", "net",
            "R", "coach's tags")  # fmt: skip
    return (
        f"<h2>Supervisor journal ({shown} plan)</h2>{summary}"
        f'<div class="scroll">{_table(head, rows, left=4) if rows else ""}</div>'
    )
