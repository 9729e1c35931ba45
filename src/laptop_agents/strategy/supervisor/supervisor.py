"""The supervisor strategy: five small agents over each closed candle, in a fixed order.

A1 MarketIntake reads trend, volatility regime and swing levels; A2 DerivativesFlows reads the funding
gate; the CVD agent reads volume-delta divergence; A3 SetupSignal tries the configured setups in order;
A4 ExecutionRiskSentinel says go or no-go; on a go the supervisor sends one entry and A5 JournalCoach
opens a plan in the journal. A resting entry not filled after `pending_trigger_max_bars` candles is
cancelled (`pending_trigger_expired`). Everything is pure and deterministic; the whole state (indicators,
windows, funding, the pending plan, cooldown, the journal's next plan id) is in `state()`.

Built by `registry.build_strategy` with `strategy.params` validated as `SupervisorParams`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from laptop_agents.core.candle import Candle
from laptop_agents.core.events import Event, PositionClosed, Side, SignalGenerated
from laptop_agents.core.orders import CancelIntent, EntryIntent, Intent
from laptop_agents.risk.risk_gate import RiskGate
from laptop_agents.strategy.base import NO_INTENTS, BaseStrategy
from laptop_agents.strategy.supervisor.coach import JournalCoach
from laptop_agents.strategy.supervisor.cvd import CvdDivergence
from laptop_agents.strategy.supervisor.flows import FundingGate, FundingSource
from laptop_agents.strategy.supervisor.intake import MarketIntake
from laptop_agents.strategy.supervisor.params import SupervisorParams
from laptop_agents.strategy.supervisor.sentinel import Decision, ExecutionRiskSentinel
from laptop_agents.strategy.supervisor.setups import PullbackRibbon, Setup, SweepInvalidation
from laptop_agents.strategy.supervisor.windows import WindowBank

PENDING_EXPIRED = "pending_trigger_expired"


class Supervisor(BaseStrategy):
    name = "supervisor"
    reads_funding = True

    def __init__(
        self,
        params: SupervisorParams | dict[str, Any],
        *,
        emit: Callable[[Event], None],
        symbol: str = "",
        funding: FundingSource | None = None,
        has_instrument_specs: bool = True,
    ) -> None:
        p = params if isinstance(params, SupervisorParams) else SupervisorParams.model_validate(params)
        self.params = p
        self._emit = emit
        self._symbol = symbol
        self.windows = WindowBank()
        self.intake = MarketIntake(p, self.windows)
        self.cvd = CvdDivergence(
            p.cvd_lookback, self.windows, divergence=p.sweep_cvd_confirm and "sweep_invalidation" in p.setups
        )
        self.funding = FundingGate(p, funding)
        self.setups = [
            PullbackRibbon(p, self.intake) if name == "pullback_ribbon"
            else SweepInvalidation(p, self.intake, self.cvd, self.windows)
            for name in p.setups
        ]  # fmt: skip
        self._evaluators = tuple(setup.evaluate for setup in self.setups)
        self.windows.bind()
        self.sentinel = ExecutionRiskSentinel(p, self.intake, self.funding, has_specs=has_instrument_specs)
        self.coach = JournalCoach(emit, symbol, stopped_fast_bars=p.stopped_fast_bars)
        self._max_pending = p.pending_trigger_max_bars
        self.bar = 0
        self.last_ts: int | None = None
        self.last_exit_ts: int | None = None
        self._last_blocked: str | None = None
        """The no-go reason last reported; a blocked setup is reported again only when the reason changes."""
        self.last_decision: Decision | None = None
        """What A4 said on the last candle (with A3's reason when there was no setup): for tests and tools."""
        self._no_setup: dict[tuple[str, ...], Decision] = {}
        """The no-setup decisions by the setups' reasons (constant codes: a handful of combinations)."""

    def warmup_candles(self) -> int:
        p = self.params
        return (
            max(p.ema_slow, p.atr_period + 1, p.swing_lookback, p.sweep_lookback_bars, p.cvd_lookback, p.vwap_bars) + 1
        )

    # -- The pipeline ------------------------------------------------------------------------------------

    def warm_up(self, candle: Candle) -> None:
        """A candle of history before a live session: A1, CVD, funding and the windows read it; nothing is
        decided, sent or journaled (an idea on a past candle could never be carried out)."""
        self.windows.push(candle, self._read(candle))

    def on_candle(self, candle: Candle, position: Side | None) -> Sequence[Intent]:
        cvd = self._read(candle)
        intake = self.intake
        intents: Sequence[Intent] = NO_INTENTS
        plan = self.coach.plan
        if plan is not None and plan.resting and self.bar - plan.placed_bar >= self._max_pending:
            intents = (CancelIntent(reason=PENDING_EXPIRED, client_order_id=plan.client_order_id),)
        elif intake.ready:
            intents = self._decide(candle, position)
        self.windows.push(candle, cvd)
        return intents

    def _read(self, candle: Candle) -> float:
        """Count the candle and update A1, the CVD and the funding gate; returns the CVD for the windows."""
        self.bar += 1
        ts = candle.ts
        last = self.last_ts
        if last is not None and (self.coach.step_ms == 0 or ts - last < self.coach.step_ms):
            self.coach.step_ms = ts - last
        self.last_ts = ts
        self.intake.update(candle)
        cvd = self.cvd.update(candle)
        self.funding.update(ts)
        return cvd

    def _decide(self, candle: Candle, position: Side | None) -> Sequence[Intent]:
        found: Setup | None = None
        reasons: tuple[str, ...] = ()
        for evaluate in self._evaluators:
            result = evaluate(candle)
            if not isinstance(result, str):
                found = result
                break
            reasons += (result,)
        if found is None:  # most candles: one Decision per combination of the setups' reasons, made once
            decision = self._no_setup.get(reasons)
            if decision is None:
                decision = self._no_setup[reasons] = Decision(False, "no_setup", 0.0, reasons)
            self.last_decision = decision
            return NO_INTENTS
        step = self.coach.step_ms
        since_exit = None if self.last_exit_ts is None or not step else (candle.ts - self.last_exit_ts) // step
        decision = self.last_decision = self.sentinel.decide(
            found, position_open=position is not None, order_pending=self.coach.plan is not None,
            bars_since_exit=since_exit,
        )  # fmt: skip
        # A blocked setup is reported when the block starts or its reason changes (the breaker tripping, a
        # position opening, a cooldown), not for every setup that appears while the same block stands.
        if not decision.go:
            if decision.reason == self._last_blocked:
                return NO_INTENTS
            self._last_blocked = decision.reason
        else:
            self._last_blocked = None
        m = self.intake
        readings = {
            "atr": m.atr, "atr_pct": m.atr_pct, "ema_fast": m.ema_fast, "ema_slow": m.ema_slow,
            "swing_high": m.swing_high, "swing_low": m.swing_low, "cvd": self.cvd.cvd,
            "funding_rate": self.funding.rate,
        }  # fmt: skip
        self._emit(
            SignalGenerated(
                ts=candle.ts,
                symbol=self._symbol,
                direction=found.side,
                setup=found.name,
                reason=found.reason,
                entry_allowed=decision.go,
                blocked_reason=decision.reason,
                indicators={k: v for k, v in readings.items() if v is not None},
            )
        )
        if not decision.go:
            return NO_INTENTS
        self.coach.open_plan(
            candle.ts,
            found,
            size_mult=decision.size_mult,
            bar=self.bar,
            market={"trend": m.trend, "regime": m.regime, **readings, "flags": list(decision.flags)},
        )
        intent = EntryIntent(
            side=found.side,
            stop_distance=found.stop_distance,
            setup=found.name,
            reason=found.reason,
            entry_type=found.entry_type,
            limit_price=found.entry if found.entry_type == "limit" else None,
            target_r=found.target_r,
            target_price=None if found.target_r is not None else found.target,
            size_mult=decision.size_mult,
        )
        return (intent,)

    def attach_risk_gate(self, gate: RiskGate) -> None:
        """The core's risk gate: A4 says no-go while it blocks entries, instead of sending doomed ones."""
        self.sentinel.gate = gate

    def on_entry_taken(self, intent: EntryIntent, client_order_id: str) -> None:
        """The core took the plan's entry: the plan knows its client id before any refusal can name it."""
        self.coach.entry_taken(client_order_id, intent.entry_type)

    def on_order_event(self, event: Event) -> None:
        """Order and position events of this symbol, from the broker and the core (see the registry)."""
        if type(event) is PositionClosed:
            self.last_exit_ts = event.ts
        self.coach.on_event(event)

    # -- Checkpoint --------------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "strategy": self.name,
            "params": self.params.model_dump(mode="json"),
            "bar": self.bar,
            "last_ts": self.last_ts,
            "last_exit_ts": self.last_exit_ts,
            "last_blocked": self._last_blocked,
            "intake": self.intake.state(),
            "cvd": self.cvd.state(),
            "funding": self.funding.state(),
            "windows": self.windows.state(),
            "journal": self.coach.state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("strategy") != self.name:
            raise ValueError(f"checkpoint holds strategy {state.get('strategy')!r}, not {self.name!r}")
        if state.get("params") != self.params.model_dump(mode="json"):
            raise ValueError("checkpoint was taken with other supervisor parameters; resume with the same ones")
        self.bar = int(state["bar"])
        self.last_ts = state["last_ts"]
        self.last_exit_ts = state["last_exit_ts"]
        blocked = state.get("last_blocked")
        self._last_blocked = None if blocked is None else str(blocked)
        self.intake.restore(state["intake"])
        self.cvd.restore(state["cvd"])
        self.funding.restore(state["funding"])
        self.windows.restore(state["windows"])
        self.coach.restore(state["journal"])
