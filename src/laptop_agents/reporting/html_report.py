"""`summary.html`: one self-contained page (inline CSS and SVG, no scripts) that tells how a run went."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from html import escape
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.base.atomic import atomic_write_bytes
from laptop_agents.core.candle import INTERVAL_MS, Candle
from laptop_agents.core.events import Event, PositionClosed
from laptop_agents.reporting.metrics import RunSummary
from laptop_agents.reporting.run_notes import RunNotes
from laptop_agents.reporting.svg import (
    Marker,
    candle_chart,
    drawdown_chart,
    fmt_ts,
    line_chart,
    price_chart,
)

_GREEN, _RED, _BLUE, _ORANGE = "#1a7f37", "#cf222e", "#0969da", "#bc4c00"


@dataclass(frozen=True, slots=True)
class ReportData:
    run_id: str
    mode: str
    symbol: str
    interval: str
    source: str
    strategy: str
    summary: RunSummary
    equity: Sequence[tuple[int, float, float]]
    prices: Sequence[tuple[int, float, float, float]]
    recent_candles: Sequence[Candle]
    trades: Sequence[PositionClosed]
    events: Sequence[Event]
    notes: RunNotes
    error: str | None
    config: dict[str, Any]


def write_summary_html(path: Path, data: ReportData) -> None:
    atomic_write_bytes(path, render_summary(data).encode("utf-8"))


def _num(value: float | None, fmt: str = ",.2f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{fmt}}{suffix}"


def _trade_markers(trades: Sequence[PositionClosed]) -> list[Marker]:
    markers = []
    for t in trades:
        long = t.side == "long"
        markers.append(
            Marker(
                t.entry_ts,
                t.entry_price,
                "up" if long else "down",
                _BLUE if long else _ORANGE,
                f"#{t.trade_id} {t.side} entry {t.entry_price:,.2f}",
            )
        )
        markers.append(
            Marker(
                t.ts,
                t.exit_price,
                "dot",
                _GREEN if t.net_pnl > 0 else _RED,
                f"#{t.trade_id} exit ({t.exit_reason}) {t.exit_price:,.2f} net {t.net_pnl:+,.2f}",
            )
        )
    return markers


def _stats(s: RunSummary) -> str:
    cells = [
        ("Net PnL", _num(s.net_pnl, "+,.2f", " USDT"), "pos" if s.net_pnl >= 0 else "neg"),
        ("Return", _num(s.return_pct, "+.2f", " %"), "pos" if s.return_pct >= 0 else "neg"),
        ("Trades", f"{s.trades:,}", ""),
        ("Win rate", _num(s.win_rate_pct, ".1f", " %"), ""),
        ("Profit factor", _num(s.profit_factor, ".2f"), ""),
        ("Max drawdown", _num(s.max_drawdown_pct, ".2f", " %"), "neg" if s.max_drawdown_pct > 0 else ""),
        ("Sharpe (daily, ann.)", _num(s.sharpe, ".2f"), ""),
        ("Fees", _num(s.fees, ",.2f", " USDT"), ""),
        ("Funding", _num(s.funding, ",.2f", " USDT"), ""),
        ("Exposure", _num(s.exposure_pct, ".1f", " %"), ""),
        ("Final equity", _num(s.final_equity, ",.2f", " USDT"), ""),
        ("Candles", f"{s.candles:,}", ""),
    ]
    return "".join(
        f'<div class="stat"><div class="k">{escape(k)}</div><div class="v {css}">{escape(v)}</div></div>'
        for k, v, css in cells
    )


def _trade_table(trades: Sequence[PositionClosed]) -> str:
    if not trades:
        return '<p class="muted">No trades.</p>'
    head = (
        "#",
        "symbol",
        "side",
        "entry time",
        "entry",
        "exit time",
        "exit",
        "qty",
        "pnl",
        "fees",
        "net",
        "reason",
        "setup",
    )
    rows = []
    for t in reversed(trades):
        css = "pos" if t.net_pnl > 0 else "neg"
        rows.append(
            f"<tr><td>{t.trade_id}</td><td>{escape(t.symbol)}</td><td>{t.side}</td><td>{fmt_ts(t.entry_ts)}</td>"
            f"<td>{t.entry_price:,.2f}</td><td>{fmt_ts(t.ts)}</td><td>{t.exit_price:,.2f}</td>"
            f"<td>{t.qty:g}</td><td>{t.pnl:+,.2f}</td><td>{t.fees:,.2f}</td>"
            f'<td class="{css}">{t.net_pnl:+,.2f}</td><td>{escape(t.exit_reason)}</td>'
            f"<td>{escape(t.setup)}</td></tr>"
        )
    header = "".join(f"<th>{h}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _event_fields(event: Event) -> str:
    parts = []
    for f in fields(event):
        if f.name in ("ts", "symbol"):
            continue
        value = getattr(event, f.name)
        if isinstance(value, float):
            text = f"{value:,.4f}".rstrip("0").rstrip(".")
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={v:,.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
        else:
            text = str(value)
        parts.append(f"{f.name}={text}")
    return " · ".join(parts)


def _events_table(events: Sequence[Event]) -> str:
    if not events:
        return '<p class="muted">No events.</p>'
    rows = "".join(
        f"<tr><td>{fmt_ts(e.ts)}</td><td>{type(e).__name__}</td><td>{escape(_event_fields(e))}</td></tr>"
        for e in reversed(events)
    )
    return (
        "<table><thead><tr><th>market time</th><th>event</th><th>details</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def render_summary(d: ReportData) -> str:
    s = d.summary
    priced = d.symbol.split(",")[0]  # several symbols: the chart shows the first one's price and trades
    charted = [t for t in d.trades if t.symbol == priced]
    markers = _trade_markers(charted)
    equity_points = [(t, e) for t, e, _ in d.equity]
    dd_points = [(t, dd) for t, _, dd in d.equity]
    step = INTERVAL_MS.get(d.interval, 60_000)
    recent = [(c.ts, c.open, c.high, c.low, c.close) for c in d.recent_candles]
    period = f"{fmt_ts(d.prices[0][0])} → {fmt_ts(d.prices[-1][0])} UTC" if d.prices else "no candles"
    error = f'<div class="error"><b>This run failed:</b> {escape(d.error)}</div>' if d.error else ""
    reasons = ", ".join(f"{k} {v}" for k, v in s.exit_reasons.items()) or "none"
    shown = f"the last {len(d.trades):,} of {s.trades:,}" if len(d.trades) < s.trades else f"all {s.trades:,}"
    marked = f"{len(charted):,} {escape(priced)}" if priced != d.symbol else shown
    config = escape(orjson.dumps(d.config, option=orjson.OPT_INDENT_2).decode())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(d.symbol)} {escape(d.mode)} · {escape(d.run_id)}</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}}
main{{max-width:1140px;margin:0 auto;padding:18px}}
h1{{font-size:20px;margin:4px 0}} h2{{font-size:15px;margin:22px 0 8px}}
.sub{{color:#59636e}} .muted{{color:#59636e}}
.card{{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:10px 12px;margin-top:10px}}
.stats{{display:grid;grid-template-columns:repeat(6,1fr);gap:8px;margin-top:12px}}
.stat{{background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:8px 10px}}
.stat .k{{color:#59636e;font-size:12px}} .stat .v{{font-size:17px;font-weight:600}}
.pos{{color:{_GREEN}}} .neg{{color:{_RED}}}
.error{{background:#ffebe9;border:1px solid #ff8182;border-radius:8px;padding:10px;margin-top:10px}}
svg{{width:100%;height:auto;display:block}}
.grid{{stroke:#eaeef2;stroke-width:1}} .base{{stroke:#8c959f;stroke-dasharray:4 4}}
.ylab{{font-size:11px;fill:#59636e;text-anchor:end}} .xlab{{font-size:11px;fill:#59636e}}
.eq{{fill:none;stroke:{_BLUE};stroke-width:1.6}} .price{{fill:none;stroke:#24292f;stroke-width:1.1}}
.band{{fill:#d0d7de;opacity:.55}} .dd{{fill:{_RED};opacity:.35;stroke:{_RED};stroke-width:.8}}
.wick{{stroke-width:1}} .wick.up{{stroke:{_GREEN}}} .wick.down{{stroke:{_RED}}}
.body.up{{fill:{_GREEN}}} .body.down{{fill:{_RED}}} .mk{{stroke:#fff;stroke-width:1}}
.legend span{{margin-right:14px}}
table{{border-collapse:collapse;width:100%;font-size:12.5px;background:#fff}}
th,td{{border-bottom:1px solid #eaeef2;padding:4px 6px;text-align:right;white-space:nowrap}}
th{{background:#f6f8fa;position:sticky;top:0}} td:nth-child(2),th:nth-child(2){{text-align:left}}
.scroll{{max-height:420px;overflow:auto;border:1px solid #d1d9e0;border-radius:8px}}
.events td:last-child{{text-align:left;white-space:normal}}
pre{{font-size:12px;background:#fff;border:1px solid #d1d9e0;border-radius:8px;padding:10px;overflow:auto}}
</style></head><body><main>
<h1>{escape(d.symbol)} · {escape(d.strategy)} · {escape(d.mode)}</h1>
<div class="sub">run <b>{escape(d.run_id)}</b> · {escape(d.interval)} candles from {escape(d.source)} · {period}</div>
{error}
<div class="stats">{_stats(s)}</div>
<div class="card notes"><b>Circuit breaker:</b> {escape(d.notes.breaker_line())} ·
<b>Entries refused:</b> {escape(d.notes.refused_line())} ·
<b>Gaps:</b> {d.notes.gaps:,} ({d.notes.missing:,} candles missing) ·
<b>Sessions:</b> {escape(d.notes.sessions_line())} ·
<b>Margin:</b> {escape(d.notes.margin_line(d.config))}</div>
<h2>Equity (USDT)</h2>
<div class="card">{line_chart(equity_points, height=260, css="eq", label="equity", baseline=s.starting_balance)}</div>
<h2>Drawdown (%)</h2>
<div class="card">{drawdown_chart(dd_points, height=150, label="drawdown")}</div>
<h2>{escape(priced)} price with entries and exits</h2>
<div class="card">
<div class="legend muted"><span style="color:{_BLUE}">▲ long entry</span>
<span style="color:{_ORANGE}">▼ short entry</span>
<span style="color:{_GREEN}">● winning exit</span><span style="color:{_RED}">● losing exit</span>
<span>markers for {marked} trades</span></div>
{price_chart(d.prices, markers, height=320, label="price")}</div>
<h2>Last {len(recent)} candles</h2>
<div class="card">{candle_chart(recent, markers, height=300, step_ms=step, label="recent candles")}</div>
<h2>Trades ({shown}; exits: {escape(reasons)})</h2>
<div class="scroll">{_trade_table(d.trades)}</div>
<h2>Recent events</h2>
<div class="scroll events">{_events_table(d.events)}</div>
<h2>Configuration</h2>
<details><summary>effective configuration (secrets redacted)</summary><pre>{config}</pre></details>
</main></body></html>
"""


def add_section(path: Path, key: str, title: str, body_html: str) -> None:
    """Put (or replace) the section `key` in a written report, before its configuration: for what is
    computed after the run (`la parity`). `body_html` must be escaped already."""
    page = path.read_text(encoding="utf-8")
    start, end = f"<!-- section:{key} -->", f"<!-- /section:{key} -->"
    block = f'{start}<h2 id="{escape(key)}">{escape(title)}</h2>{body_html}{end}'
    if start in page and end in page:
        page = page[: page.index(start)] + block + page[page.index(end) + len(end) :]
    elif "<h2>Configuration</h2>" in page:
        page = page.replace("<h2>Configuration</h2>", block + "<h2>Configuration</h2>", 1)
    else:
        page = page.replace("</main>", block + "</main>", 1)
    atomic_write_bytes(path, page.encode("utf-8"))
