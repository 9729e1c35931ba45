"""The numbers a trader reads after a backtest: trades grouped by period, exit reason, setup, symbol, side.

Computed at report time from the whole `trades.csv` (the report's trade table keeps only the recent ones),
so a resumed run is counted whole and nothing is carried in a checkpoint. A torn last row (a run killed
mid-write) is skipped. Periods are UTC and go by the trade's exit: a trade counts where its PnL was booked.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: int
    symbol: str
    side: str
    entry_ts: int
    exit_ts: int
    pnl: float
    fees: float
    net_pnl: float
    exit_reason: str
    setup: str


@dataclass(slots=True)
class Group:
    """Trades that share a key: counts, PnL and the ratios derived from them."""

    label: str
    trades: int = 0
    wins: int = 0
    net: float = 0.0
    gross_profit: float = 0.0
    gross_loss: float = 0.0
    fees: float = 0.0

    def add(self, t: Trade) -> None:
        self.trades += 1
        self.net += t.net_pnl
        self.fees += t.fees
        if t.net_pnl > 0:
            self.wins += 1
            self.gross_profit += t.net_pnl
        else:
            self.gross_loss -= t.net_pnl

    @property
    def win_rate_pct(self) -> float | None:
        return 100.0 * self.wins / self.trades if self.trades else None

    @property
    def profit_factor(self) -> float | None:
        """Gross profit / gross loss of net PnL; None without a losing trade."""
        return self.gross_profit / self.gross_loss if self.gross_loss > 0 else None

    @property
    def average(self) -> float | None:
        return self.net / self.trades if self.trades else None


@dataclass(slots=True)
class Breakdown:
    total: Group = field(default_factory=lambda: Group("all"))
    by_day: dict[str, Group] = field(default_factory=dict)
    by_week: dict[str, Group] = field(default_factory=dict)
    by_month: dict[str, Group] = field(default_factory=dict)
    by_reason: dict[str, Group] = field(default_factory=dict)
    by_setup: dict[str, Group] = field(default_factory=dict)
    by_symbol: dict[str, Group] = field(default_factory=dict)
    by_side: dict[str, Group] = field(default_factory=dict)
    gross_pnl: float = 0.0
    """Σ PnL before fees (and funding)."""
    gross_won: float = 0.0
    """Σ PnL before fees of the trades that made money before fees: what the costs are set against."""
    best: float | None = None
    worst: float | None = None
    max_win_streak: int = 0
    max_loss_streak: int = 0
    held_ms: int = 0
    """Σ time in trades (entry candle to exit candle)."""
    skipped_rows: int = 0

    @property
    def avg_win(self) -> float | None:
        t = self.total
        return t.gross_profit / t.wins if t.wins else None

    @property
    def avg_loss(self) -> float | None:
        """Average losing trade as a positive amount; None without a loss."""
        t = self.total
        losses = t.trades - t.wins
        return t.gross_loss / losses if losses else None

    @property
    def expectancy(self) -> float | None:
        """Mean net PnL per trade (USDT): win rate × average win − loss rate × average loss."""
        return self.total.average

    @property
    def expectancy_ratio(self) -> float | None:
        """Expectancy in units of the average loss (what a trade earns per unit of a typical loss)."""
        if self.expectancy is None or not self.avg_loss:
            return None
        return self.expectancy / self.avg_loss

    @property
    def avg_held_ms(self) -> float | None:
        return self.held_ms / self.total.trades if self.total.trades else None


def read_trades(path: Path) -> Iterator[Trade | None]:
    """The trades of a `trades.csv`, in file order; None for a row that does not parse, and for a last
    line without its newline: a run killed mid-write tore it, so whatever it holds (a cut-off price, half
    an exit reason) is not a trade. Cells are found by the header's names."""
    if not path.exists():
        return
    with path.open(newline="", encoding="utf-8") as handle:
        ended = _Ended(handle)
        rows = csv.reader(ended)
        header = next(rows, None)
        if header is None:
            return
        yield from _parse(header, rows)
    if ended.torn:
        yield None


class _Ended:
    """The lines of a file that end with a newline; `torn` once a last one without it was met (and held
    back: a cut-off row's cells may still parse)."""

    __slots__ = ("_lines", "torn")

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.torn = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        if line.endswith("\n"):
            return line
        self.torn = True
        raise StopIteration


def _parse(header: list[str], rows: Iterator[list[str]]) -> Iterator[Trade | None]:
    at = {name: i for i, name in enumerate(header)}  # a repeated name: its last column
    try:
        cells = tuple(at[name] for name in _TRADE_CELLS)
    except KeyError:
        cells = ()  # a column missing: no row parses
    for row in rows:
        if not row:
            continue  # a blank line holds no trade
        if not cells:
            yield None
            continue
        trade_id, symbol, side, entry_ts, exit_ts, pnl, fees, net_pnl, exit_reason, setup = cells
        try:
            yield Trade(
                trade_id=int(row[trade_id]),
                symbol=row[symbol],
                side=row[side],
                entry_ts=int(row[entry_ts]),
                exit_ts=int(row[exit_ts]),
                pnl=float(row[pnl]),
                fees=float(row[fees]),
                net_pnl=float(row[net_pnl]),
                exit_reason=row[exit_reason],
                setup=row[setup],
            )
        except (IndexError, ValueError):
            yield None


_TRADE_CELLS = ("trade_id", "symbol", "side", "entry_ts", "exit_ts", "pnl", "fees", "net_pnl", "exit_reason", "setup")


def _day(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1000, tz=UTC)


@functools.lru_cache(maxsize=4096)
def _period_keys_of_day(day: int) -> tuple[str, str, str]:
    dt = _day(day * 86_400_000)
    monday = (dt - timedelta(days=dt.weekday())).date()
    return dt.strftime("%Y-%m-%d"), f"week of {monday:%Y-%m-%d}", dt.strftime("%Y-%m")


def period_keys(ts: int) -> tuple[str, str, str]:
    """(day, week starting Monday, month) of a UTC time, as sortable labels."""
    return _period_keys_of_day(ts // 86_400_000)


def _group(groups: dict[str, Group], key: str) -> Group:
    group = groups.get(key)
    if group is None:
        group = groups[key] = Group(key)
    return group


def breakdown(trades: Iterable[Trade | None]) -> Breakdown:
    b = Breakdown()
    win_streak = loss_streak = 0
    for t in trades:
        if t is None:
            b.skipped_rows += 1
            continue
        b.total.add(t)
        day, week, month = period_keys(t.exit_ts)
        for groups, key in (
            (b.by_day, day),
            (b.by_week, week),
            (b.by_month, month),
            (b.by_reason, t.exit_reason),
            (b.by_setup, t.setup or "(none)"),
            (b.by_symbol, t.symbol),
            (b.by_side, t.side),
        ):
            _group(groups, key).add(t)
        b.gross_pnl += t.pnl
        if t.pnl > 0:
            b.gross_won += t.pnl
        b.best = t.net_pnl if b.best is None else max(b.best, t.net_pnl)
        b.worst = t.net_pnl if b.worst is None else min(b.worst, t.net_pnl)
        b.held_ms += t.exit_ts - t.entry_ts
        if t.net_pnl > 0:
            win_streak, loss_streak = win_streak + 1, 0
        else:
            win_streak, loss_streak = 0, loss_streak + 1
        b.max_win_streak = max(b.max_win_streak, win_streak)
        b.max_loss_streak = max(b.max_loss_streak, loss_streak)
    return b


def cagr_pct(start: float, final: float, first_ts: int | None, last_ts: int | None) -> float | None:
    """Compound annual growth over the run's period; None under 90 days (a month annualised says nothing)
    or when the account went to zero."""
    if first_ts is None or last_ts is None or start <= 0 or final <= 0:
        return None
    years = (last_ts - first_ts) / (365.0 * 86_400_000)
    if years < 90 / 365:
        return None
    value = ((final / start) ** (1.0 / years) - 1.0) * 100.0
    return value if math.isfinite(value) else None


def share_pct(part: float, whole: float) -> float | None:
    """`part` as a percentage of |`whole`|; None when the whole is (about) zero."""
    return 100.0 * part / abs(whole) if abs(whole) > 1e-9 else None
