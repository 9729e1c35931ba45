"""The simulated exchange's account records: orders, one-way positions and accounts, as plain data.

The ledger (`ledger.py`) changes them; the handlers and `shapes.py` read them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from laptop_agents.exchange.bitunix.sim.tpsl import Leg, TpslBook


@dataclass
class SimOrder:
    order_id: str
    client_id: str
    symbol: str
    side: str  # BUY / SELL
    order_type: str  # MARKET / LIMIT
    qty: float
    price: float | None
    reduce_only: bool
    leverage: int
    ctime: int
    status: str = "NEW"
    trade_qty: float = 0.0
    avg_price: float = 0.0
    fee: float = 0.0
    realized: float = 0.0
    mtime: int = 0
    tp: Leg | None = None
    sl: Leg | None = None
    """The take profit / stop loss attached to an entry: its position's TP/SL order once it fills."""
    placed_monotonic: float = field(default_factory=time.monotonic)
    """When it was placed, on the host's monotonic clock (the fault switches' windows run on it)."""

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "PART_FILLED")

    @property
    def tp_price(self) -> float | None:
        return self.tp.price if self.tp else None

    @property
    def sl_price(self) -> float | None:
        return self.sl.price if self.sl else None


DuplicatePolicy = Callable[[bool, float], bool]
"""(the earlier order is open, its placement time) → refuse the repeated client id."""


@dataclass
class SimPosition:
    position_id: str
    symbol: str
    qty: float = 0.0  # signed: > 0 long, < 0 short
    entry: float = 0.0
    fee: float = 0.0
    funding: float = 0.0
    realized: float = 0.0
    ctime: int = 0
    mtime: int = 0
    side: str = ""  # LONG / SHORT while open; kept once closed, for the history
    max_qty: float = 0.0
    closed_qty: float = 0.0
    closed_value: float = 0.0  # Σ closed qty × price: closePrice = closed_value / closed_qty
    extra_margin: float = 0.0  # added (or taken back) by adjust_position_margin


@dataclass
class SimAccount:
    api_key: str
    secret: str
    balance: float  # cash: deposits + realized PnL − fees − funding
    leverage: dict[str, int] = field(default_factory=dict)
    margin_mode: dict[str, str] = field(default_factory=dict)  # symbol → ISOLATION | CROSS (default CROSS)
    position_mode: str = "ONE_WAY"
    """ONE_WAY (net positions) or HEDGE. In HEDGE an order must say `tradeSide` (OPEN/CLOSE), which this
    simulator does not model: it refuses such orders, so a client that did not leave HEDGE cannot trade."""
    positions: dict[str, SimPosition] = field(default_factory=dict)
    orders: dict[str, SimOrder] = field(default_factory=dict)
    by_client_id: dict[str, str] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)
    tpsl: TpslBook = field(default_factory=TpslBook)
    closed_positions: list[SimPosition] = field(default_factory=list)
