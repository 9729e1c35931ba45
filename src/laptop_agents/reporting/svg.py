"""Tiny inline-SVG charts for `summary.html`: no scripts, no external files, so the report opens offline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

WIDTH = 1100
PAD_L, PAD_R, PAD_T, PAD_B = 70, 16, 14, 26


@dataclass(frozen=True, slots=True)
class Marker:
    ts: int
    price: float
    shape: str  # "up", "down", "dot"
    color: str
    title: str


class Frame:
    """Maps (ts, value) to pixel coordinates within a chart of the given height."""

    def __init__(self, t0: int, t1: int, lo: float, hi: float, height: int) -> None:
        if hi <= lo:
            hi, lo = hi + 1.0, lo - 1.0
        pad = (hi - lo) * 0.04
        self.t0, self.t1 = t0, max(t1, t0 + 1)
        # Pad for air, but never across zero when the data stays on one side (no negative equity axis).
        self.lo = max(lo - pad, 0.0) if lo >= 0 else lo - pad
        self.hi = min(hi + pad, 0.0) if hi <= 0 else hi + pad
        self.height = height

    def x(self, ts: int) -> float:
        return PAD_L + (ts - self.t0) / (self.t1 - self.t0) * (WIDTH - PAD_L - PAD_R)

    def y(self, value: float) -> float:
        return PAD_T + (self.hi - value) / (self.hi - self.lo) * (self.height - PAD_T - PAD_B)


def fmt_ts(ts: int, with_time: bool = True) -> str:
    dt = datetime.fromtimestamp(ts / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def _axes(frame: Frame, value_fmt: str) -> list[str]:
    parts = []
    for i in range(5):
        value = frame.lo + (frame.hi - frame.lo) * i / 4
        y = frame.y(value)
        parts.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" class="ylab">{value:{value_fmt}}</text>')
    for i in range(5):
        ts = frame.t0 + (frame.t1 - frame.t0) * i // 4
        x = frame.x(ts)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{frame.height - 6}" class="xlab" text-anchor="{anchor}">{fmt_ts(ts)}</text>'
        )
    return parts


def _svg(height: int, body: list[str], label: str) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="none">' + "".join(body) + "</svg>"
    )


def _polyline(frame: Frame, points: Sequence[tuple[int, float]], css: str) -> str:
    coords = " ".join(f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in points)
    return f'<polyline points="{coords}" class="{css}"/>'


def line_chart(
    points: Sequence[tuple[int, float]],
    *,
    height: int,
    css: str,
    label: str,
    baseline: float | None = None,
    value_fmt: str = ",.0f",
) -> str:
    if not points:
        return '<p class="muted">no data</p>'
    values = [v for _, v in points] + ([baseline] if baseline is not None else [])
    frame = Frame(points[0][0], points[-1][0], min(values), max(values), height)
    body = _axes(frame, value_fmt)
    if baseline is not None:
        y = frame.y(baseline)
        body.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="base"/>')
    body.append(_polyline(frame, points, css))
    return _svg(height, body, label)


def drawdown_chart(points: Sequence[tuple[int, float]], *, height: int, label: str) -> str:
    """Drawdown in percent, drawn downwards from 0 as a filled area."""
    if not points:
        return '<p class="muted">no data</p>'
    deepest = max(dd for _, dd in points)
    frame = Frame(points[0][0], points[-1][0], -max(deepest, 0.01), 0.0, height)
    body = _axes(frame, ".2f")
    top = frame.y(0.0)
    coords = " ".join(f"{frame.x(t):.1f},{frame.y(-dd):.1f}" for t, dd in points)
    first_x, last_x = frame.x(points[0][0]), frame.x(points[-1][0])
    body.append(f'<polygon points="{first_x:.1f},{top:.1f} {coords} {last_x:.1f},{top:.1f}" class="dd"/>')
    return _svg(height, body, label)


def price_chart(
    points: Sequence[tuple[int, float, float, float]], markers: Sequence[Marker], *, height: int, label: str
) -> str:
    """Closes with the high/low band of each bucket, and trade markers on top."""
    if not points:
        return '<p class="muted">no data</p>'
    frame = Frame(points[0][0], points[-1][0], min(p[3] for p in points), max(p[2] for p in points), height)
    body = _axes(frame, ",.0f")
    upper = " ".join(f"{frame.x(t):.1f},{frame.y(h):.1f}" for t, _, h, _ in points)
    lower = " ".join(f"{frame.x(t):.1f},{frame.y(lo):.1f}" for t, _, _, lo in reversed(points))
    body.append(f'<polygon points="{upper} {lower}" class="band"/>')
    body.append(_polyline(frame, [(t, c) for t, c, _, _ in points], "price"))
    body.extend(_marker(frame, m) for m in markers if frame.t0 <= m.ts <= frame.t1)
    return _svg(height, body, label)


def candle_chart(
    candles: Sequence[tuple[int, float, float, float, float]],
    markers: Sequence[Marker],
    *,
    height: int,
    step_ms: int,
    label: str,
) -> str:
    """Candlesticks (ts, open, high, low, close) with trade markers."""
    if not candles:
        return '<p class="muted">no data</p>'
    frame = Frame(
        candles[0][0],
        candles[-1][0] + step_ms,
        min(c[3] for c in candles),
        max(c[2] for c in candles),
        height,
    )
    body = _axes(frame, ",.0f")
    width = max(1.0, (frame.x(candles[0][0] + step_ms) - frame.x(candles[0][0])) * 0.7)
    for ts, o, h, lo, c in candles:
        x = frame.x(ts) + width / 2
        css = "up" if c >= o else "down"
        top, bottom = frame.y(max(o, c)), frame.y(min(o, c))
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.y(h):.1f}" y2="{frame.y(lo):.1f}" class="wick {css}"/>'
        )
        body.append(
            f'<rect x="{x - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
            f'height="{max(bottom - top, 0.8):.1f}" class="body {css}"/>'
        )
    body.extend(_marker(frame, m) for m in markers if frame.t0 <= m.ts <= frame.t1)
    return _svg(height, body, label)


def _marker(frame: Frame, m: Marker) -> str:
    x, y = frame.x(m.ts), frame.y(m.price)
    title = f"<title>{escape(m.title)}</title>"
    if m.shape == "up":
        return f'<path d="M{x:.1f},{y - 7:.1f} l6,11 h-12 z" fill="{m.color}" class="mk">{title}</path>'
    if m.shape == "down":
        return f'<path d="M{x:.1f},{y + 7:.1f} l6,-11 h-12 z" fill="{m.color}" class="mk">{title}</path>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{m.color}" class="mk">{title}</circle>'
