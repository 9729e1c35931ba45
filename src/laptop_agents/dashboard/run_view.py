"""One run folder as the dashboard shows it, read from its files (finished runs, and daemons of other
processes), or from the daemon's own state when it serves its own run (`live`).

Nothing here writes to the folder: the files are read as the daemon leaves them at any moment (whole
lines only, a torn last line is not yet there), and the big ones incrementally (`_CsvRows`), so a month
of 1-minute equity costs one read of the bytes appended since the last request.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.base.lock import lock_holder
from laptop_agents.core.errors import LaptopAgentsError
from laptop_agents.live.journal import OrderJournal
from laptop_agents.live.order_state import TERMINAL
from laptop_agents.runs.compressed import gz_path, read_bytes
from laptop_agents.runs.heartbeat_age import heartbeat_age_s

LiveHeartbeat = Callable[[], dict[str, Any]]
"""The serving daemon's `AsyncRunner.heartbeat`: its own run's state now, not as last written."""

ACTIVE = ("starting", "running", "degraded", "halted", "stopping")
TAIL_BYTES = 1 << 18


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def whole_lines(data: bytes, *, at_start: bool) -> list[bytes]:
    """The complete lines of `data` (a torn last line is not written yet; a first line cut by a tail read
    is dropped unless the read began at the file's start)."""
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or a line still being written
    if not at_start and lines:
        lines.pop(0)
    return [line for line in lines if line.strip()]


def tail_lines(path: Path, count: int, budget: int = TAIL_BYTES, *, end: int | None = None) -> list[bytes]:
    """The last `count` whole lines among the `budget` bytes before `end` (default: the file's end); a
    finished backtest's gzipped file is read whole (it no longer grows)."""
    if not path.exists() and gz_path(path).exists():
        try:
            whole = read_bytes(path)
        except OSError:
            return []
        size = len(whole) if end is None else min(end, len(whole))
        start = max(0, size - budget)
        return whole_lines(whole[start:size], at_start=start == 0)[-count:]
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, io.SEEK_END) if end is None else end
            start = max(0, size - budget)
            handle.seek(start)
            data = handle.read(size - start)
    except OSError:
        return []
    return whole_lines(data, at_start=start == 0)[-count:]


def _number(text: str) -> float | int | str:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


@dataclass
class Appended:
    """The whole lines a file gained since the last `read` (a torn last line waits for its newline). A file
    replaced or cut back (a resume truncates to its checkpoint) starts over: `read` says so, and the
    caller drops what it had parsed."""

    path: Path
    _offset: int = 0
    _identity: tuple[int, int] | None = None

    @classmethod
    def after(cls, path: Path, offset: int) -> Appended:
        """Lines from byte `offset` of the file as it is now (a stream that sent what came before)."""
        try:
            info = path.stat()
        except OSError:
            return cls(path)
        return cls(path, offset, (info.st_ino, info.st_dev))

    def read(self) -> tuple[bool, bytes]:
        """(started over, the new complete bytes)."""
        try:
            info = self.path.stat()
        except OSError:
            restarted = self._identity is not None or self._offset > 0
            self._offset, self._identity = 0, None
            return restarted, b""
        identity = (info.st_ino, info.st_dev)
        restarted = (self._identity is not None and self._identity != identity) or info.st_size < self._offset
        if restarted:
            self._offset, self._identity = 0, identity
        if info.st_size == self._offset:
            return restarted, b""
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read(info.st_size - self._offset)
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        return restarted, complete


@dataclass
class _CsvRows:
    """A CSV file the daemon appends to, parsed incrementally (rows as tuples of numbers)."""

    path: Path
    header: list[str] = field(default_factory=list)
    rows: list[tuple[float | int | str, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._source = Appended(self.path)

    def refresh(self) -> list[tuple[float | int | str, ...]]:
        restarted, complete = self._source.read()
        if restarted:
            self.rows, self.header = [], []
        for row in csv.reader(io.StringIO(complete.decode())):
            if not self.header:
                self.header = row
            elif row:
                self.rows.append(tuple(_number(cell) for cell in row))
        return self.rows

    def dicts(self, last: int | None = None) -> list[dict[str, Any]]:
        rows = self.refresh()
        chosen = rows if last is None else rows[-last:]
        return [dict(zip(self.header, row, strict=False)) for row in chosen]


@dataclass
class _EquityRows:
    """`equity.csv` (ts, equity, drawdown_pct) parsed incrementally into flat arrays (24 bytes a candle)."""

    path: Path
    ts: array[float] = field(default_factory=lambda: array("d"))
    equity: array[float] = field(default_factory=lambda: array("d"))
    drawdown: array[float] = field(default_factory=lambda: array("d"))

    def __post_init__(self) -> None:
        self._source = Appended(self.path)

    def refresh(self) -> _EquityRows:
        if not self.path.exists() and gz_path(self.path).exists():  # a finished backtest's, gzipped: read once
            if self.ts:
                return self
            try:
                restarted, complete = True, read_bytes(self.path)
            except OSError:
                return self
        else:
            restarted, complete = self._source.read()
        if restarted:
            self.ts, self.equity, self.drawdown = array("d"), array("d"), array("d")
        for line in complete.split(b"\n"):
            parts = line.split(b",")
            if len(parts) < 2 or parts[0] == b"ts":  # the header
                continue
            try:
                row = float(parts[0]), float(parts[1]), float(parts[2]) if len(parts) > 2 else 0.0
            except ValueError:
                continue
            self.ts.append(row[0])
            self.equity.append(row[1])
            self.drawdown.append(row[2])
        return self


def downsample(rows: _EquityRows, points: int) -> dict[str, list[float]]:
    """At most `points` points of the equity curve: buckets, each its last value (dated by its last candle),
    lowest and highest equity and deepest drawdown, so a one-candle spike or a drawdown stays visible
    however long the run. When candles are bucketed, the first candle leads as a point of its own: the
    chart starts where the data does, not a bucket later."""
    n = len(rows.ts)
    out: dict[str, list[float]] = {"ts": [], "equity": [], "low": [], "high": [], "drawdown_pct": []}
    size = 1 if n <= points else max(1, -(-n // max(1, points - 1)))
    if size > 1:
        first = rows.equity[0]
        out["ts"].append(rows.ts[0])
        out["equity"].append(first)
        out["low"].append(first)
        out["high"].append(first)
        out["drawdown_pct"].append(rows.drawdown[0])
    for start in range(0, n, size):
        end = min(n, start + size)
        values = rows.equity[start:end]
        out["ts"].append(rows.ts[end - 1])
        out["equity"].append(values[-1])
        out["low"].append(min(values))
        out["high"].append(max(values))
        out["drawdown_pct"].append(max(rows.drawdown[start:end]))
    return out


class RunView:
    def __init__(self, path: Path, *, live: LiveHeartbeat | None = None) -> None:
        self.path = path
        self.run_id = path.name
        self.live = live
        self._equity = _EquityRows(path / "equity.csv")
        self._trades = _CsvRows(path / "trades.csv")
        self._config: dict[str, Any] | None = None
        self.lock = threading.Lock()
        """Held while a worker thread reads this run's files (the incremental readers are not shared)."""
        self._summary: tuple[tuple[tuple[int, int], ...], dict[str, Any]] | None = None
        self._journal: OrderJournal | None = None
        self._orders = Appended(path / "orders.jsonl")

    # -- What the run is ---------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = read_json(self.path / "config.json") or {}
        return self._config

    def heartbeat(self) -> dict[str, Any] | None:
        return self.live() if self.live is not None else read_json(self.path / "heartbeat.json")

    def finished(self) -> dict[str, Any] | None:
        """The run's `RunFinished` record, if its log ends with one."""
        for line in reversed(tail_lines(self.path / "events.jsonl", 50)):
            with _quiet():
                record = orjson.loads(line)
                if record.get("event") == "RunFinished":
                    return dict(record)
        return None

    def state(self, beat: dict[str, Any] | None = None) -> str:
        """running / halted / stale (data) / stopping / stopped / failed, or for a daemon that is gone
        without a word `crashed`, and `unresponsive` for one whose heartbeat stopped moving."""
        beat = beat if beat is not None else self.heartbeat()
        if beat is None:
            done = self.finished()
            if done is None:
                return "unknown"
            return "failed" if done.get("status") == "failed" else "finished"
        state = str(beat.get("state", "unknown"))
        if state not in ACTIVE:
            return state
        if self.live is None:
            holder = lock_holder(self.path)
            if holder is None:
                return "crashed"
            interval = float((self.config().get("run") or {}).get("heartbeat_interval_s") or 5.0)
            age, _ = heartbeat_age_s(beat, writer_alive=beat.get("pid") == holder)
            if age is None or age > max(30.0, 3 * interval):
                return "unresponsive"
        return "stale" if state == "degraded" else state

    def summary(self) -> dict[str, Any]:
        """The index's row: what the run is and how it went. The files are read again only when one of
        them changed (an index of hundreds of finished runs costs a stat each); the state is read each time."""
        names = ("equity.csv", "equity.csv.gz", "trades.csv", "summary.html", "config.json")
        stamp = tuple(_stamp(self.path / name) for name in names)
        if self._summary is None or self._summary[0] != stamp:
            self._summary = (stamp, self._read_summary())
        return {**self._summary[1], "state": self.state()}

    def _read_summary(self) -> dict[str, Any]:
        cfg = self.config()
        run, data, strategy = cfg.get("run") or {}, cfg.get("data") or {}, cfg.get("strategy") or {}
        first_row, last_row = _edge_rows(self.path / "equity.csv")
        trades = self._trades.refresh()
        pnl_at = self._trades.header.index("net_pnl") if "net_pnl" in self._trades.header else None
        symbols = data.get("symbols") or ([data["symbol"]] if data.get("symbol") else [])
        return {
            "run_id": self.run_id,
            "mode": run.get("mode", "?"),
            "strategy": strategy.get("name", "?"),
            "symbols": symbols,
            "interval": data.get("interval"),
            "first_ts": first_row[0] if first_row else None,
            "last_ts": last_row[0] if last_row else None,
            "trades": len(trades),
            "net_pnl": 0.0 if pnl_at is None else round(sum(float(t[pnl_at]) for t in trades), 8),
            "final_equity": last_row[1] if last_row else None,
            "report": (self.path / "summary.html").is_file(),
        }

    # -- A live run's page -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        beat = self.heartbeat() or {}
        cfg = self.config()
        breaker_cfg = cfg.get("circuit_breaker") or {}
        age, _ = heartbeat_age_s(beat, writer_alive=self.live is not None)
        data_age = beat.get("data_age_s_by_symbol") or {}
        if age is not None and self.live is None:  # the file is `age` old: so is every age it holds
            data_age = {s: round(float(a) + max(0.0, age), 3) for s, a in data_age.items()}
        summary = self.summary()
        return {
            **summary,
            "state": self.state(beat) if beat else summary["state"],
            "pid": beat.get("pid"),
            "heartbeat_age_s": None if age is None else round(max(0.0, age), 3),
            "data_age_s": data_age,
            "last_candle_ts": beat.get("last_candle_ts") or {},
            "equity": beat.get("equity", summary["final_equity"]),
            "breaker": {
                "state": beat.get("breaker", "unknown"),
                **(beat.get("breaker_state") or {}),
                "max_drawdown_pct": breaker_cfg.get("max_drawdown_pct"),
                "max_consecutive_losses": breaker_cfg.get("max_consecutive_losses"),
                "reset_after_bars": breaker_cfg.get("reset_after_bars"),
                "enabled": breaker_cfg.get("enabled", True),
            },
            "halts": beat.get("halts") or [],
            "kill_switch": beat.get("kill_switch"),
            "errors": beat.get("errors", 0),
            "candles": beat.get("candles", 0),
            "gaps": beat.get("gaps", 0),
            "invalid_candles": beat.get("invalid_candles", 0),
            "holes": beat.get("holes", 0),
            "stream": beat.get("stream") or {},
            "checkpoint": beat.get("checkpoint") or {},
            "exchange": beat.get("exchange"),
            "controls": self.live is not None or summary["state"] in ACTIVE or bool(beat),
        }

    def positions(self) -> list[dict[str, Any]]:
        beat = self.heartbeat() or {}
        if self.state(beat) in ("stopped", "failed", "finished", "crashed"):
            return []  # what a stopped daemon last held is in its checkpoint, not open now
        return [{"symbol": symbol, **p} for symbol, p in (beat.get("positions") or {}).items()]

    def orders(self) -> list[dict[str, Any]]:
        """Open orders: live-exchange from the order journal (state, client id, age), paper its resting entries."""
        now_ms = int(time.time() * 1000)
        journal = self._journal_now()
        if journal is not None:
            return [
                {
                    "symbol": o.symbol,
                    "client_id": o.client_id,
                    "order_id": o.order_id,
                    "side": o.side,
                    "type": o.order_type,
                    "qty": o.qty,
                    "filled_qty": o.filled_qty,
                    "price": o.price,
                    "purpose": o.purpose,
                    "state": o.state,
                    "age_s": round((now_ms - o.created_ms) / 1000, 1),
                }
                for o in journal.orders.values()
                if o.state not in TERMINAL
            ]
        beat = self.heartbeat() or {}
        return [
            {**o, "age_s": None if o.get("placed_ts") is None else round((now_ms - int(o["placed_ts"])) / 1000, 1)}
            for o in beat.get("resting_orders") or []
        ]

    def _journal_now(self) -> OrderJournal | None:
        """`orders.jsonl` replayed into an in-memory journal, the lines appended since the last call only."""
        if not self._orders.path.is_file():
            return None
        restarted, complete = self._orders.read()
        if restarted or self._journal is None:
            self._journal = OrderJournal(None)
        for line in whole_lines(complete, at_start=True):
            with _quiet():
                self._journal.absorb(orjson.loads(line))
        return self._journal

    def trades(self, last: int = 100) -> list[dict[str, Any]]:
        return self._trades.dicts(last)

    def equity(self, points: int = 800) -> dict[str, list[float]]:
        return downsample(self._equity.refresh(), points)

    def events(
        self, last: int = 100, wanted: Callable[[dict[str, Any]], bool] | None = None, *, end: int | None = None
    ) -> list[dict[str, Any]]:
        """The last `last` events (of those `wanted` keeps) before byte `end` of the log (default: its end)."""
        out = []
        for line in tail_lines(self.path / "events.jsonl", last * 20 if wanted else last, end=end):
            with _quiet():
                record = orjson.loads(line)
                if wanted is None or wanted(record):
                    out.append(record)
        return out[-last:]

    def log(self, last: int = 60) -> dict[str, list[dict[str, Any]]]:
        """The daemon's log: its warnings and errors first (they are never pushed out by routine lines),
        then the most recent lines."""
        records = []
        for line in tail_lines(self.path / "daemon.log", 2_000):
            with _quiet():
                records.append(orjson.loads(line))
        warnings = [r for r in records if r.get("level") in ("warning", "error", "critical")]
        return {"warnings": warnings[-20:][::-1], "recent": records[-last:][::-1]}


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_size, info.st_mtime_ns)


def _edge_rows(path: Path) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """The first and the last (ts, equity) rows of `equity.csv`, without reading what lies between (a
    gzipped one is read whole)."""
    if not path.exists() and gz_path(path).exists():
        try:
            lines = whole_lines(read_bytes(path), at_start=True)
        except OSError:
            return None, None
        return _row(lines[1:2]), _row(lines[-1:])
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None, None
    first = _row(whole_lines(head, at_start=True)[1:2])
    last = _row(tail_lines(path, 1, 4096)) if first is not None else None
    return first, last if last is not None else first


def _row(lines: list[bytes]) -> tuple[float, float] | None:
    if not lines:
        return None
    parts = lines[-1].split(b",")
    try:
        return float(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        return None


class _quiet:
    """Skip a record that does not parse (a line being replaced under us): the next read has it."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, ValueError | KeyError | TypeError | LaptopAgentsError)
