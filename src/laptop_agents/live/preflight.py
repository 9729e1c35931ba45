"""The live-exchange preflight: every check before the first order, printed and recorded as an event.

In order, each needing the one before: connectivity (contract specs answer), clock (server time offset
within `exchange.max_clock_offset_ms`), keys (a signed call succeeds), position mode (ONE_WAY: in HEDGE
an order's side names a position leg, so a reduce-only close or the reconciliation could act on the wrong
one; a flat HEDGE account is switched to ONE_WAY, one with positions refused), contracts (each symbol
open for API trading; tick, lot, min qty, max leverage), leverage (margin mode and leverage set as configured, changed
when they differ, then read back), balance (the account's available margin is readable and positive).
The first failure stops the preflight with `PreflightError`: one line naming the check and the fix. A
check that meets a busy venue (rate limits past the client's own retries, as a restart may while the last
process's calls still fill the key's window) is tried again for up to `PATIENCE_S`, said once; a ban (418)
or an unreachable venue fails at once.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from laptop_agents.base.retry import patiently
from laptop_agents.config.models import Settings, effective_leverage
from laptop_agents.core.clock import Clock, LiveClock
from laptop_agents.core.errors import PreflightError
from laptop_agents.core.events import Event, PreflightCheck
from laptop_agents.exchange.bitunix.errors import AuthError, ExchangeError, IpBanned, RateLimitedError
from laptop_agents.exchange.bitunix.rest import AccountInfo, BitunixRest
from laptop_agents.exchange.bitunix.wire import ContractSpec

CHECKS = ("connectivity", "clock", "keys", "position_mode", "contracts", "leverage", "balance")
DRIFT_WARN_MS = 1_000.0
"""A server clock further off than this passes (signed requests use the measured offset) with a warning:
a clock that far off is drifting, and past `exchange.max_clock_offset_ms` the next start is refused."""
PATIENCE_S = 120.0
"""How long one check waits out a rate-limited venue before the preflight fails."""


@dataclass
class PreflightReport:
    specs: dict[str, ContractSpec] = field(default_factory=dict)
    clock_offset_ms: float = 0.0
    available: float = 0.0
    cash: float = 0.0
    """The account's wallet balance: available + frozen + margin in use (unrealized gains not included)."""
    leverage: int = 0
    lines: list[str] = field(default_factory=list)


class Preflight:
    def __init__(
        self,
        settings: Settings,
        rest: BitunixRest,
        *,
        emit: Callable[[Event], None],
        say: Callable[[str], None],
        clock: Clock | None = None,
    ) -> None:
        """`clock` dates each check (`ts_event`: when it was made; default the wall clock)."""
        self.clock = clock if clock is not None else LiveClock()
        self.settings = settings
        self.rest = rest
        self.emit = emit
        self.say = say
        self.symbols = settings.data.trading_symbols
        self.report = PreflightReport(leverage=effective_leverage(settings))
        self._account: AccountInfo | None = None  # read once, by the keys check
        self._warning = False  # the check that just passed did so with a warning
        # what a check already did, so one tried again after a busy venue (`patiently`) does not do it twice
        self._mode_switched = False
        self._leverage_before: dict[str, tuple[int, str]] = {}

    async def run(self) -> PreflightReport:
        steps: dict[str, Callable[[], Awaitable[str]]] = {
            "connectivity": self._connectivity,
            "clock": self._clock,
            "keys": self._keys,
            "position_mode": self._position_mode,
            "contracts": self._contracts,
            "leverage": self._leverage,
            "balance": self._balance,
        }
        for name, step in steps.items():
            try:
                waiting = self._waiting(name)
                detail = await patiently(step, waits_out=_busy, patience_s=PATIENCE_S,
                                         monotonic=self.clock.monotonic_s, on_first_wait=waiting)  # fmt: skip
            except (PreflightError, ExchangeError) as exc:
                self._record(name, False, str(exc))
                raise PreflightError(f"preflight {name} failed: {exc}") from None
            self._record(name, True, detail, warning=self._warning)
            self._warning = False
        return self.report

    def _waiting(self, name: str) -> Callable[[BaseException], None]:
        def say(exc: BaseException) -> None:
            self.say(f"preflight wait {name:<12} the exchange is busy ({exc}); trying again for up to "
                     f"{PATIENCE_S:.0f} s")  # fmt: skip

        return say

    def _record(self, name: str, ok: bool, detail: str, *, warning: bool = False) -> None:
        at = self.clock.now_ms()
        self.emit(PreflightCheck(ts=at, symbol=",".join(self.symbols), check=name, ok=ok, detail=detail))
        line = f"preflight {('WARN' if warning else 'ok  ') if ok else 'FAIL'} {name:<12} {detail}"
        self.report.lines.append(line)
        self.say(line)

    async def _connectivity(self) -> str:
        began = time.perf_counter()
        specs = await self.rest.trading_pairs(list(self.symbols))
        self.report.specs = {s.symbol: s for s in specs}
        return f"{self.rest.base_url} answered in {(time.perf_counter() - began) * 1000:.0f} ms"

    async def _clock(self) -> str:
        offset = self.rest.clock_offset_ms
        bound = self.settings.exchange.max_clock_offset_ms
        if offset is None:
            raise PreflightError("the exchange's reply had no Date header, so the clock offset is unknown")
        self.report.clock_offset_ms = offset
        if abs(offset) > bound:
            raise PreflightError(
                f"the server clock is {offset / 1000:+.1f} s from ours (bound {bound / 1000:g} s, "
                "exchange.max_clock_offset_ms): sync this machine's clock (NTP) and start again"
            )
        detail = f"server clock {offset / 1000:+.1f} s from ours (±0.5 s; bound {bound / 1000:g} s)"
        if abs(offset) > DRIFT_WARN_MS:
            self._warning = True
            detail += (f": over {DRIFT_WARN_MS / 1000:g} s, so this machine's clock is drifting; signed requests use "
                       "the measured offset, but sync the clock (NTP) before it passes the bound")  # fmt: skip
        return detail

    async def _keys(self) -> str:
        env = self.settings.exchange
        try:
            self._account = await self.rest.account()
        except AuthError as exc:
            raise PreflightError(
                f"the exchange refused the API key ({exc}); check {env.api_key_env} and {env.api_secret_env} "
                f"(or {env.credentials_file_env})"
            ) from None
        return "a signed request was accepted"

    async def _position_mode(self) -> str:
        account = self._account
        assert account is not None  # the keys check ran first
        mode = account.position_mode or "ONE_WAY"  # a reply without the field: the venue's default
        if mode == "ONE_WAY":
            return "ONE_WAY"
        if mode != "HEDGE":
            raise PreflightError(f"the account reports position mode {mode!r}; only ONE_WAY is supported")
        positions = [] if self._mode_switched else await self.rest.pending_positions()
        if positions:
            held = ", ".join(sorted({p.symbol for p in positions}))
            raise PreflightError(
                f"the account is in HEDGE position mode with open positions ({held}); close them or switch the "
                "account to ONE_WAY on Bitunix, then start again (only ONE_WAY is supported)"
            )
        if not self._mode_switched:  # tried again after the switch went out: not sent twice
            await self.rest.change_position_mode("ONE_WAY")
            self._mode_switched = True
        self._account = await self.rest.account()
        if self._account.position_mode not in ("", "ONE_WAY"):
            raise PreflightError(f"the account reads back position mode {self._account.position_mode} after "
                                 "switching to ONE_WAY; switch it on Bitunix, then start again")  # fmt: skip
        return "ONE_WAY (switched from HEDGE: the account was flat)"

    async def _contracts(self) -> str:
        details = []
        lev = self.report.leverage
        for symbol in self.symbols:
            spec = self.report.specs.get(symbol)
            if spec is None:
                raise PreflightError(f"{symbol} is not listed by the exchange; check data.symbol(s)")
            if spec.status != "OPEN" or not spec.api_trading:
                raise PreflightError(f"{symbol} is not open for API trading (status {spec.status})")
            if not spec.min_leverage <= lev <= spec.max_leverage:
                raise PreflightError(
                    f"{symbol} allows leverage {spec.min_leverage}..{spec.max_leverage}, not {lev}; "
                    "set exchange.leverage (or risk.max_leverage) inside it"
                )
            details.append(
                f"{symbol} tick {spec.tick:g} lot {spec.qty_step:g} min {spec.min_qty:g} "
                f"max leverage {spec.max_leverage}"
            )
        return "; ".join(details)

    async def _leverage(self) -> str:
        mode, lev = self.settings.exchange.margin_mode, self.report.leverage
        details = []
        for symbol in self.symbols:
            read = await self.rest.leverage_margin_mode(symbol)
            before_lev, before_mode = self._leverage_before.setdefault(symbol, read)  # the first reading
            if read[1] != mode:
                await self.rest.change_margin_mode(symbol, mode)
            if read[0] != lev:
                await self.rest.change_leverage(symbol, lev)
            now_lev, now_mode = await self.rest.leverage_margin_mode(symbol)
            if (now_lev, now_mode) != (lev, mode):
                raise PreflightError(
                    f"{symbol} reads back leverage {now_lev} {now_mode} after setting {lev} {mode}; "
                    "close its positions and orders, or set it on the exchange, then start again"
                )
            changed = "" if (before_lev, before_mode) == (lev, mode) else f" (was {before_lev} {before_mode})"
            details.append(f"{symbol} {lev}x {mode}{changed}")
        return "; ".join(details)

    async def _balance(self) -> str:
        account = self._account  # setting leverage and margin mode does not move the balance
        assert account is not None  # the keys check ran first
        self.report.available = account.available
        self.report.cash = account.available + account.frozen + account.margin
        if not account.available > 0:
            raise PreflightError("the account has no available USDT margin; deposit or free margin first")
        return f"available {account.available:,.2f} USDT, margin in use {account.margin:,.2f}"


def _busy(exc: BaseException) -> bool:
    return isinstance(exc, RateLimitedError) and not isinstance(exc, IpBanned)
