"""TradingCore: one closed candle in, fills and events out. The same object runs backtest and live.

Order of work on each candle (the strategy rules depend on it):
0. the risk gate: while entries are blocked (breaker, halt flag) resting entries are cancelled;
1. the broker's candle open: funding, then stop/target exits of an open position, then resting entries;
2. trailing-stop update from the close (2 and 3 of the spec commute: indicators emit nothing);
3. the strategy updates its indicators with this candle and returns intents;
4. intents are carried out at this close, in the order given: cancels, closes, then entries (checked
   against the risk gate and `risk.rr_min`, sized, sent to the broker);
5. equity is marked at the close; the circuit breaker and the equity sink see it.

Several cores (one per symbol) can share one `Account` and one `CircuitBreaker`: each marks its symbol's
unrealized PnL and notional on the account, so the breaker and the equity sink see the account's equity,
and sizing leaves room for the other symbols' positions.

Entries are refused (an `OrderRejected` event with a reason, never an exception) when the circuit breaker
is tripped, when something halted entries (stale data, kill switch), when reward/risk is below
`risk.rr_min` (`rr_below_min`), or when the size is too small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from laptop_agents.core.candle import Candle, utc_minute
from laptop_agents.core.errors import StrategyError
from laptop_agents.core.events import Event, ExitReason, OrderRejected, PositionClosed
from laptop_agents.core.ids import ClientOrderIds
from laptop_agents.core.orders import CancelIntent, CloseIntent, EntryIntent, Intent
from laptop_agents.engine.breaker_shadow import BreakerShadow
from laptop_agents.execution.broker import Broker
from laptop_agents.execution.funding import ObservedFunding
from laptop_agents.risk.circuit_breaker import CircuitBreaker
from laptop_agents.risk.risk_gate import RiskGate
from laptop_agents.risk.sizing import PositionSizer
from laptop_agents.strategy.base import Strategy

EquitySink = Callable[[Candle, float, bool], None]
"""Called once per candle with (the candle, equity marked at its close, position open?)."""


class TradingCore:
    def __init__(
        self,
        *,
        symbol: str,
        strategy: Strategy,
        broker: Broker,
        sizer: PositionSizer,
        breaker: CircuitBreaker,
        ids: ClientOrderIds,
        emit: Callable[[Event], None],
        on_equity: EquitySink | None = None,
        rr_min: float = 0.0,
        cancel_resting_on_halt: bool = True,
    ) -> None:
        self.symbol = symbol
        self.strategy = strategy
        self.broker = broker
        self.sizer = sizer
        self.breaker = breaker
        self.account = broker.account
        self.ids = ids
        self._emit = emit
        self._on_equity = on_equity
        self.gate = RiskGate(breaker, cancel_resting=cancel_resting_on_halt)
        self.halts = self.gate.halts
        """Reasons entries are halted (key → detail), set by the runtime: stale data, kill switch."""
        self.rr_min = rr_min
        self.funding: ObservedFunding | None = None
        """Live modes: the funding rate the strategy reads, as the last `FundingObserved` input gave it."""
        self.candles = 0
        self.trades = 0
        self.last_candle: Candle | None = None
        self.last_mark = -1.0
        """Equity at the last breaker mark; unchanged marks are skipped (validate's held candles keep it)."""
        self.shadow: BreakerShadow | None = None
        """The entries the breaker refused, taken on paper for the report (see `engine.breaker_shadow`)."""

    def on_candle(self, candle: Candle) -> None:
        shadow = self.shadow
        if shadow is not None and shadow.active:
            shadow.on_candle(candle, breaker_open=self.breaker.allows_entries)
        broker = self.broker
        position = broker.position
        if broker.pending and self.gate.blocked:
            reason = self.gate.cancel_reason()
            if reason is not None:
                self._cancel_resting(candle.ts, reason)
        # Step 1 has work only with a position, a resting order or a funding time due; skip the call otherwise.
        if position is not None or broker.pending or candle.ts >= broker.funding_due_ts:
            for trade in broker.on_candle_open(candle):
                self._trade_closed(trade, candle.close)
            position = broker.position
        if position is not None:
            broker.update_trailing(candle)
        intents = self.strategy.on_candle(candle, None if position is None else position.side)
        if intents:
            self._carry_out(candle, intents)
            position = broker.position
        account = self.account
        upnl = 0.0 if position is None else position.direction * position.qty * (candle.close - position.entry_price)
        if account.shared:
            self.mark_on_account(upnl)
            equity = account.equity()
        else:
            equity = account.cash + upnl
        breaker = self.breaker
        if equity != self.last_mark or breaker.counting_bars:
            self.last_mark = equity
            breaker.on_mark(candle.ts, equity)
        self.candles += 1
        self.last_candle = candle
        on_equity = self._on_equity
        if on_equity is not None:
            on_equity(candle, equity, position is not None)

    def _carry_out(self, candle: Candle, intents: Sequence[Intent]) -> None:
        broker = self.broker
        if not isinstance(intents, list | tuple):
            raise StrategyError(
                f"strategy {self.strategy.name} returned {intents!r:.80} on the {self.symbol} candle at "
                f"{utc_minute(candle.ts)}: on_candle must return a list (or tuple) of EntryIntent, CloseIntent or "
                "CancelIntent"
            )
        for intent in intents:
            if type(intent) is CloseIntent:
                trade = broker.close_market(ts=candle.ts, ref_price=candle.close, reason=intent.reason)
                if trade is not None:
                    self._trade_closed(trade, candle.close)
            elif type(intent) is CancelIntent:
                self._cancel_resting(candle.ts, intent.reason, intent.client_order_id)
            elif isinstance(intent, EntryIntent):
                self._enter(candle, intent)
            else:
                raise StrategyError(
                    f"strategy {self.strategy.name} returned {intent!r:.80} on the {self.symbol} candle at "
                    f"{utc_minute(candle.ts)}: expected EntryIntent, CloseIntent or CancelIntent items"
                )

    def _cancel_resting(self, ts: int, reason: str, client_order_id: str | None = None) -> None:
        """Cancel the resting entry `client_order_id`, or every one of this symbol when None."""
        broker = self.broker
        for cid in list(broker.pending) if client_order_id is None else [client_order_id]:
            broker.cancel(ts=ts, client_order_id=cid, reason=reason)

    def finish(self) -> PositionClosed | None:
        """End of data: close a position still open at the last close, by the market rules (reason `end`)."""
        return self.flatten("end")

    def flatten(self, reason: ExitReason) -> PositionClosed | None:
        """Close an open position at market at the last close (end of data, kill switch with flatten).
        Before the first candle only a venue that prices the close itself can (live-exchange)."""
        last, broker = self.last_candle, self.broker
        if broker.position is None:
            return None
        if last is None:
            if broker.venue_prices_closes:  # the reduce-only order is sent; its fill closes the trade
                broker.close_market(ts=0, ref_price=broker.position.entry_price, reason=reason)
            return None
        trade = broker.close_market(ts=last.ts, ref_price=last.close, reason=reason)
        if trade is not None:
            self._trade_closed(trade, last.close)
        return trade

    def unrealized(self) -> float:
        """The open position's PnL at the last close (0 when flat or before the first candle)."""
        position, last = self.broker.position, self.last_candle
        if position is None or last is None:
            return 0.0
        return position.direction * position.qty * (last.close - position.entry_price)

    def mark_on_account(self, upnl: float) -> None:
        """Tell a shared account this symbol's unrealized PnL and open notional (see `Account`)."""
        position = self.broker.position
        self.account.marks[self.symbol] = upnl
        self.account.exposure[self.symbol] = 0.0 if position is None else position.qty * position.entry_price

    def account_equity(self, price: float) -> float:
        """The account's equity with this symbol marked at `price` and the others at their last marks."""
        equity = self.broker.equity(price)
        account = self.account
        if account.shared:
            equity += sum(v for s, v in account.marks.items() if s != self.symbol)
        return equity

    def _trade_closed(self, trade: PositionClosed, price: float) -> None:
        self.trades += 1
        self.breaker.on_trade_closed(ts=trade.ts, net_pnl=trade.net_pnl, equity=self.account_equity(price))

    def _enter(self, candle: Candle, intent: EntryIntent) -> None:
        refusal = self._entry_refusal()
        if refusal is not None:
            self._reject(candle, intent, *refusal)
            shadow = self.shadow
            if shadow is not None and refusal[0] == "circuit_breaker":
                shadow.begin(self.account.cash)
                planned = self._plan(intent, candle, cash=shadow.cash, margin=False)
                if type(planned) is float:
                    shadow.take(candle, intent, planned)
            return
        planned = self._plan(intent, candle, cash=self.account.cash)
        if type(planned) is not float:
            assert isinstance(planned, tuple)
            self._reject(candle, intent, *planned)
            return
        broker = self.broker
        cid = self.ids.next()
        self.strategy.on_entry_taken(intent, cid)  # before the broker: a refusal of it names this id
        if intent.resting_price is not None:
            broker.place_resting(ts=candle.ts, client_order_id=cid, qty=planned, intent=intent, ref_price=candle.close)
        else:
            broker.open_market(ts=candle.ts, client_order_id=cid, qty=planned, ref_price=candle.close, intent=intent)

    def _plan(
        self, intent: EntryIntent, candle: Candle, *, cash: float, margin: bool = True
    ) -> float | tuple[str, str]:
        """The entry's quantity at this close, sized from `cash`, or why it cannot be taken (reason code,
        detail). `margin=False` leaves out the venue's margin check (the breaker's paper account)."""
        if not intent.stop_distance > 0:  # a flat market's ATR: no risk-based size exists; never a crash
            return "zero_stop_distance", (
                f"stop distance {intent.stop_distance:g} from {self.strategy.name}: nothing to size the entry on"
            )
        broker = self.broker
        resting = intent.resting_price
        market = broker.market_fill_price(intent.side, candle.close)
        crossing = (
            intent.entry_type == "limit"
            and resting is not None
            and (resting >= market if intent.side == "long" else resting <= market)
        )  # a limit already marketable fills at once at the market: size it there
        entry_price = market if resting is None or crossing else resting
        rr = intent.reward_risk(entry_price)
        if rr is not None and rr < self.rr_min:
            return "rr_below_min", (
                f"reward/risk {rr:.2f} from the expected fill {entry_price:.6g} < risk.rr_min {self.rr_min:g}"
            )
        account = self.account
        decision = self.sizer.size(
            equity=cash,
            entry_price=entry_price,
            stop_distance=intent.stop_distance,
            size_mult=intent.size_mult,
            committed_notional=account.committed_notional(self.symbol) if account.shared else 0.0,
        )
        if decision.rejected is not None:
            return decision.rejected, decision.detail
        refused = broker.entry_refusal(decision.qty, entry_price) if margin else None  # the venue's margin rules
        if refused is not None:
            return refused
        return float(decision.qty)

    def _reject(self, candle: Candle, intent: EntryIntent, reason: str, detail: str) -> None:
        side = intent.order_side
        self._emit(
            OrderRejected(
                ts=candle.ts, symbol=self.symbol, client_order_id=None, side=side, reason=reason, detail=detail
            )
        )

    def _entry_refusal(self) -> tuple[str, str] | None:
        refusal = self.gate.refusal()
        if refusal is not None:
            return refusal
        if self.broker.position is not None:
            return "position_open", "one position per symbol; the open one was not closed"
        return None
