"""The simulated venue's liquidation engine, as Bitunix's works for isolated positions.

An ISOLATION position is liquidated when its margin plus its loss at the price the market reaches falls to
its maintenance margin (entry notional × the rate of the risk-limit tier the notional falls in; Bitunix help
centre, "Tiered Maintenance Margin Rate Rules"). It closes at that price (or at the candle's open when the
candle opened beyond it) with a reduce-only market order that is none of the account's (no client id), the
taker fee, and the symbol's open orders cancelled first. It loses at most its margin: what a gap takes
beyond it is the venue's. The paper broker's isolated margin (`execution/margin.py`) is the same rule,
written independently, so paper and the simulated venue liquidate at the same price; tests hold them to
it. Unlike paper, the engine here looks before the position's TP/SL orders on every push (their triggers
are on the last price, coarser than a push's low and high): a stop-loss between the open and the
liquidation price that paper would fill first is liquidated here when one push spans both. CROSS positions
are not liquidated on their own here (only `flatten`, from the admin endpoint).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from laptop_agents.exchange.bitunix.sim.accounts import SimAccount, SimOrder, SimPosition
from laptop_agents.exchange.bitunix.sim.market import Push

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.ledger import Ledger


class LiquidationEngine:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.liquidations: list[tuple[str, str, float, float]] = []
        """(api key, symbol, price, covered) of every liquidation the engine made on its own."""

    def price(self, account: SimAccount, position: SimPosition) -> float | None:
        """Where the engine liquidates this position (None unless its margin mode is ISOLATION)."""
        ledger = self.ledger
        if account.margin_mode.get(position.symbol, "CROSS") != "ISOLATION" or not position.qty:
            return None
        qty = abs(position.qty)
        maintenance = qty * position.entry * ledger.contract(position.symbol).maintenance_rate(qty * position.entry)
        cushion = (ledger.position_margin(account, position) - maintenance) / qty
        return position.entry - cushion if position.qty > 0 else position.entry + cushion

    def check(self, account: SimAccount, position: SimPosition, push: Push) -> bool:
        """Liquidate an isolated position the market has reached the liquidation price of (True when it did).
        The candle's low and high count only when the position is older than the candle; else the last price."""
        price = self.price(account, position)
        if price is None:
            return False
        long = position.qty > 0
        whole_candle = position.ctime < push.candle_ts
        reached = (push.low if whole_candle else push.close) if long else (push.high if whole_candle else push.close)
        if (long and reached > price) or (not long and reached < price):
            return False
        start = push.open if whole_candle else push.close
        fill = min(start, price) if long else max(start, price)
        self._close(account, position, fill)
        return True

    def _close(self, account: SimAccount, position: SimPosition, price: float) -> None:
        ledger = self.ledger
        qty, long = abs(position.qty), position.qty > 0
        margin = ledger.position_margin(account, position)
        pnl = qty * (price - position.entry) * (1.0 if long else -1.0)
        covered = max(0.0, qty * price * ledger.taker - margin - pnl)  # the loss stops at the margin
        for order in [o for o in account.orders.values() if o.symbol == position.symbol and o.open]:
            ledger.cancel(account, position.symbol, order.order_id, None)
        now = ledger.market.now_ms()
        order = SimOrder(
            ledger.new_id(), "", position.symbol, "SELL" if long else "BUY", "MARKET", qty, None, True,
            ledger.leverage(account, position.symbol), now, mtime=now,
        )  # fmt: skip
        account.orders[order.order_id] = order
        ledger.fill(account, order, price, ledger.taker, "TAKER")
        if covered:
            account.balance += covered
            order.realized += covered
            position.realized += covered
            ledger.push_balance(account)
        self.liquidations.append((account.api_key, position.symbol, price, covered))

    def flatten(self, account: SimAccount, symbol: str) -> SimOrder | None:
        """The venue's liquidation engine flattens the position (while its owner may be away): a market
        close at the last price that is none of the account's orders; its TP/SL orders go with it."""
        symbol = symbol.upper()
        for order in [o for o in account.orders.values() if o.symbol == symbol and o.open]:
            self.ledger.cancel(account, symbol, order.order_id, None)  # the engine cancels the symbol's orders first
        position = account.positions.get(symbol)
        return None if position is None else self.ledger.market_close(account, position)
