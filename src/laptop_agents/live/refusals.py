"""What follows the exchange's definitive refusal of an order, beyond the order itself.

The refused order is REJECTED at once and never sent again (`executor.py`): nothing of it can fill, the
books forget it (`OrderRejected`), and the next decision goes out under a new client id. Two kinds of
refusal would only come back at the next candle with the same answer, so they do more:

- **Margin** (20003, insufficient balance) on an entry. The venue, not the books, knows the margin. The
  account is read again at once (its available margin feeds the heartbeat's `exchange_available`), one
  `Error where=margin` says the refusal, what the entry needed, the venue's figure and the books' equity,
  and that symbol's entries are halted (`exchange_margin`: the core refuses them locally, nothing reaches
  the venue) until a later read shows the available margin grown past what it was at the refusal and
  enough for the refused entry (a deposit, margin freed; read every `BALANCE_READ_S` while halted), or
  until `live.refusal_backoff_s` passed: then one entry may try again, and a new refusal waits twice as
  long (at most `BACKOFF_CAP_S`) until an entry of the symbol is accepted. Sizing keeps the books' equity
  (the journal's, which a replay rebuilds); the venue's figure decides when entries try again.
- **Filters** (10002 parameter, 30016/30017 quantity too small, 30039 above the maximum) on any order:
  the contract may have changed under us. That symbol's entries are halted (`exchange_filters`) and the
  contracts are read again at once (`ContractWatch`); a changed contract lifts the halt, and the next
  decision is rounded, sized and checked against it (refused locally if it now breaks it); so does a
  contract that already breaks the refused order (a periodic read applied the change between the order's
  sizing and the refusal). If the read shows nothing changed and the order fits it, the refusal is not the
  filters' doing: after an entry an `Error where=contract`
  says so and the halt is lifted (the next decision may try: a refusal is not a reason to skip a signal),
  but a second such refusal of the symbol's entries in a row makes them wait as after a margin refusal,
  so an unexplained refusal cannot repeat at every candle (after an exit, the halt is just lifted).

Exits are never held back by either (the halts are entry halts; a refused close is retried by the core
as any refused close). The halts are inputs of the core (`HaltChanged`, lifted by time right before a
candle reaches the core: `expire`), so a replay refuses the same entries. A restart starts without them:
at most one more attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass

from laptop_agents.config.models import LiveConfig
from laptop_agents.core.clock import Clock
from laptop_agents.core.events import Error
from laptop_agents.exchange.bitunix import codes
from laptop_agents.exchange.bitunix.errors import ExchangeError, InsufficientBalance
from laptop_agents.exchange.bitunix.rest import AccountInfo, BitunixRest
from laptop_agents.live.broker import BitunixBroker
from laptop_agents.live.contracts import ContractWatch, spec_breaks
from laptop_agents.live.journal import JournalOrder
from laptop_agents.live.order_log import OrderLog

HALT_MARGIN = "exchange_margin"
HALT_FILTERS = "exchange_filters"
FILTER_CODES = frozenset({codes.PARAMETER_ERROR, codes.QTY_TOO_SMALL, codes.QTY_BELOW_MIN, codes.QTY_ABOVE_MAX})
BACKOFF_CAP_S = 3_600.0
BALANCE_READ_S = 10.0
"""While a margin halt is on, the account is read at most this often (monotonic s)."""


@dataclass(slots=True)
class _Wait:
    until_s: float
    need: float = 0.0
    """The margin the refused entry needed (USDT; 0 unknown)."""
    available: float | None = None
    """The exchange's available margin read right after the refusal (None: not read yet)."""
    next_read_s: float = 0.0


@dataclass(frozen=True, slots=True)
class _Pending:
    """An order refused for a filter, waiting for the contract to be read again."""

    client_id: str
    purpose: str
    detail: str
    qty: float
    price: float | None
    order_type: str


class EntryRefusals:
    def __init__(
        self,
        *,
        rest: BitunixRest,
        halts: Mapping[str, MutableMapping[str, str]],
        contracts: ContractWatch,
        log: OrderLog,
        clock: Clock,
        config: LiveConfig,
        on_available: Callable[[float], None],
    ) -> None:
        """`halts`: each symbol's entry halts (the cores'); `on_available`: told each available margin read."""
        self.rest = rest
        self.halts = halts
        self.contracts = contracts
        self.log = log
        self.clock = clock
        self.backoff_s = config.refusal_backoff_s
        self.on_available = on_available
        self._waits: dict[tuple[str, str], _Wait] = {}
        self._strikes: dict[tuple[str, str], int] = {}
        """(symbol, halt) → margin or unexplained refusals of its entries in a row (reset when one is accepted)."""
        self._pending: dict[str, _Pending] = {}

    # -- From the executor -------------------------------------------------------------------------------

    async def refused(self, broker: BitunixBroker, order: JournalOrder, exc: ExchangeError) -> None:
        """The exchange refused `order` for good (it is REJECTED already)."""
        if isinstance(exc, InsufficientBalance):
            if order.purpose == "entry":
                await self._margin(broker, order)
        elif exc.code in FILTER_CODES:
            symbol = order.symbol
            self._halt(symbol, HALT_FILTERS, f"the exchange refused order {order.client_id} for its filters "
                       f"({exc}); entries on {symbol} wait until its contract is read again")  # fmt: skip
            self._pending[symbol] = _Pending(order.client_id, order.purpose, str(exc), order.qty, order.price,
                                             order.order_type)  # fmt: skip
            self.contracts.request()
            await self._reread()

    def accepted(self, symbol: str) -> None:
        """An entry of `symbol` was accepted: the next refusal waits the first back-off again."""
        for key in (HALT_MARGIN, HALT_FILTERS):
            self._strikes.pop((symbol, key), None)

    def expire(self, symbol: str) -> None:
        """Lift `symbol`'s waits whose time is up (right before an input reaches its core; no I/O)."""
        now = self.clock.monotonic_s()
        for key in (HALT_MARGIN, HALT_FILTERS):
            wait = self._waits.get((symbol, key))
            if wait is not None and now >= wait.until_s:
                self._lift(symbol, key)

    async def check(self) -> None:
        """The sync pass: a contract read still owed, waits whose time is up, the balance while halted."""
        if self._pending:
            await self._reread()
        for symbol in {s for s, _ in self._waits}:
            self.expire(symbol)
        now = self.clock.monotonic_s()
        due = [s for (s, key), w in self._waits.items() if key == HALT_MARGIN and now >= w.next_read_s]
        if not due:
            return
        account = await self._read_balance()
        if account is None:
            return
        for symbol in due:
            wait = self._waits.get((symbol, HALT_MARGIN))
            if wait is None:  # lifted by time (a candle's `expire`) while the account was read
                continue
            wait.next_read_s = now + BALANCE_READ_S
            if wait.available is None:
                wait.available = account.available
            elif account.available > wait.available and account.available >= wait.need:
                self._lift(symbol, HALT_MARGIN)

    def status(self) -> dict[str, dict[str, float]]:
        """For the heartbeat: each wait, with the seconds left."""
        now = self.clock.monotonic_s()
        return {f"{s}:{key}": {"left_s": round(max(0.0, w.until_s - now), 1)} for (s, key), w in self._waits.items()}

    # -- Internals ---------------------------------------------------------------------------------------

    async def _margin(self, broker: BitunixBroker, order: JournalOrder) -> None:
        symbol, cid = order.symbol, order.client_id
        wait_s = self._strike(symbol, HALT_MARGIN)
        price = order.price if order.price is not None else float(order.meta.get("est_price") or 0.0)
        need = order.qty * price / max(broker.leverage, 1)
        covers = f" or until its available margin covers the ~{need:,.2f} USDT it needed" if need else ""
        self._halt(symbol, HALT_MARGIN, f"the exchange refused entry {cid} for margin (20003): entries on {symbol} "
                   f"wait {wait_s:g} s{covers}")  # fmt: skip
        now = self.clock.monotonic_s()
        wait = _Wait(until_s=now + wait_s, need=need, next_read_s=now + BALANCE_READ_S)  # read here, now
        self._waits[(symbol, HALT_MARGIN)] = wait
        account = await self._read_balance()
        equity = broker.account.equity()
        if account is None:
            figure = "could not be read (tried again while entries wait)"
        else:
            wait.available = account.available
            figure = f"{account.available:,.2f} USDT"
            wallet = account.available + account.frozen + account.margin
            if wallet < broker.account.cash * 0.99:
                figure += (f" of a balance of {wallet:,.2f}, below the books' cash {broker.account.cash:,.2f} (a "
                           "withdrawal, or another bot on this key?)")  # fmt: skip
        self._say(symbol, "margin", f"{symbol} entry {cid} refused by the exchange for margin (20003): it needed "
                  f"~{need:,.2f} USDT at {broker.leverage}x; the exchange's available margin is {figure}, the "
                  f"books' equity {equity:,.2f}; entries on {symbol} wait {wait_s:g} s{covers} (exits are not "
                  "held back)")  # fmt: skip

    async def _reread(self) -> None:
        """Read the contracts for the orders refused for a filter; lift, or wait when nothing changed."""
        changed = await self.contracts.refresh()
        if changed is None:
            return  # said once; the halts stay and the next pass reads again
        pending, self._pending = self._pending, {}
        for symbol, refused in pending.items():
            broker = self.contracts.brokers.get(symbol)
            spec = None if broker is None else broker.spec
            breaks = None if spec is None else spec_breaks(spec, refused.qty, refused.price, refused.order_type)
            if changed.get(symbol) or breaks is not None or refused.purpose != "entry":
                self._lift(symbol, HALT_FILTERS)  # explained (this read's change, or one applied before it)
                continue
            wait_s = self._strike(symbol, HALT_FILTERS, first_free=True)
            what = f"{symbol} entry {refused.client_id} refused by the exchange ({refused.detail}), but the contract "
            if not wait_s:
                self._lift(symbol, HALT_FILTERS)
                self._say(symbol, "contract", f"{what}read again shows no change: not the filters; the next entry "
                          "may try, a second such refusal in a row makes entries wait")  # fmt: skip
                continue
            self._halt(symbol, HALT_FILTERS, f"the exchange refused entry {refused.client_id} ({refused.detail}) "
                       f"though its contract is unchanged, again: entries on {symbol} wait {wait_s:g} s")  # fmt: skip
            self._waits[(symbol, HALT_FILTERS)] = _Wait(until_s=self.clock.monotonic_s() + wait_s)
            self._say(symbol, "contract", f"{what}is unchanged, again: entries on {symbol} wait {wait_s:g} s, then "
                      "one may try again")  # fmt: skip

    async def _read_balance(self) -> AccountInfo | None:
        try:
            account = await self.rest.account()
        except ExchangeError as exc:
            self.log.trouble("margin", self.log.symbols, f"reading the account's margin: {exc}; retrying")
            return None
        self.log.solved("margin")
        self.on_available(account.available)
        return account

    def _strike(self, symbol: str, key: str, *, first_free: bool = False) -> float:
        """One more refusal in a row: how long the symbol's entries wait now (`first_free`: not after the first)."""
        strikes = self._strikes[(symbol, key)] = self._strikes.get((symbol, key), 0) + 1
        if first_free:
            strikes -= 1
            if strikes == 0:
                return 0.0
        return float(min(self.backoff_s * 2.0 ** (strikes - 1), max(self.backoff_s, BACKOFF_CAP_S)))

    def _halt(self, symbol: str, key: str, detail: str) -> None:
        halts = self.halts.get(symbol)
        if halts is not None:
            halts[key] = detail

    def _lift(self, symbol: str, key: str) -> None:
        self._waits.pop((symbol, key), None)
        halts = self.halts.get(symbol)
        if halts is not None:
            halts.pop(key, None)

    def _say(self, symbol: str, where: str, message: str) -> None:
        self.log.emit(Error(ts=self.clock.now_ms(), symbol=symbol, where=where, message=message, fatal=False))


__all__ = ["FILTER_CODES", "HALT_FILTERS", "HALT_MARGIN", "EntryRefusals"]
