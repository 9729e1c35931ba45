"""Replay of a live session (live-paper, live-exchange): every input the cores were given is in
`events.jsonl`, in order; a fresh portfolio is fed the same inputs and each input's decisions are compared
with those the session recorded right after it. A live-exchange session's books are fed what the exchange
reported (`live.inputs`) by a `ReplayVenue`: its brokers' decisions are compared the same way.

A resume is replayed as the daemon did it: the books so far are snapshotted and restored into a portfolio
built afresh (with what `--reconfigure` changed and the venue's tiers as read then), with no halts and no
funding rate, as a restarted process has; each one still in force comes again as an input. The books at
the resume are checked against what the session's `RunResumed` says it restored, and the equity at its
end against `RunFinished`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from laptop_agents.config.models import Settings
from laptop_agents.core.errors import IllegalTransition, InputError
from laptop_agents.core.events import ConfigChanged, Event, RunFinished, RunResumed, RunStarted
from laptop_agents.core.inputs import (
    BooksRestored,
    CandleClosed,
    ClockTick,
    FlattenRequested,
    FundingObserved,
    HaltChanged,
    OutsidePnl,
    StopHeld,
    VenueContract,
    VenueTiers,
)
from laptop_agents.daemon.live_paper import order_id_prefix
from laptop_agents.daemon.venue_tiers import tiers_applied
from laptop_agents.engine.assembly import build_portfolio
from laptop_agents.engine.inputs import apply_input
from laptop_agents.engine.portfolio import Portfolio
from laptop_agents.engine.snapshot import portfolio_snapshot, restore_portfolio
from laptop_agents.live.inputs import VENUE_INPUTS
from laptop_agents.replay.backtest import check_input_files
from laptop_agents.replay.decisions import DECISION_TYPES, DecisionCheck, describe
from laptop_agents.replay.exchange import ReplayVenue
from laptop_agents.replay.records import Record

SettingsMaker = Callable[[dict[str, Any]], Settings]
"""The run's configuration (config.json as it was then) → the settings a replay builds with."""

CORE_INPUTS = (CandleClosed, HaltChanged, FundingObserved, FlattenRequested, *VENUE_INPUTS)
BOUNDARIES = (RunStarted, RunResumed)
WANTED = frozenset((*CORE_INPUTS, *BOUNDARIES, ConfigChanged, VenueTiers, VenueContract, RunFinished))
"""What the replay reads besides the decisions."""
LIVE_MODES = ("live-paper", "live-exchange")


@dataclass
class _Setup:
    """What the next build of the portfolio takes: the configuration then, the venue's tiers, the funding."""

    config: dict[str, Any]
    tiers: dict[str, tuple[tuple[float, float, int], ...]] = field(default_factory=dict)
    observed_funding: bool = False
    starting_balance: float | None = None
    contracts: dict[str, VenueContract] = field(default_factory=dict)
    venue: ReplayVenue | None = None
    """live-exchange: the venue its brokers are built over (one for the whole run)."""


def revert_changes(config: dict[str, Any], records: list[Record]) -> dict[str, Any]:
    """The configuration the run started with: its `config.json` with every `--reconfigure` change undone."""
    first: dict[str, Any] = orjson.loads(orjson.dumps(config))
    for record in reversed(records):
        if record.kind is ConfigChanged and isinstance(event := record.event, ConfigChanged):
            _set_key(first, event.key, orjson.loads(event.before))
    return first


def _set_key(config: dict[str, Any], key: str, value: Any) -> None:
    section, _, name = key.partition(".")
    if name:
        config.setdefault(section, {})[name] = value
    else:
        config[section] = value


def replay_live(
    records: list[Record],
    check: DecisionCheck,
    *,
    run_id: str,
    config: dict[str, Any],
    make: SettingsMaker,
    checkpoint: dict[str, Any] | None = None,
    journal: tuple[dict[str, Any], ...] = (),
) -> None:
    """Replay the live session(s) in `records` from the start (`config`: the run's first configuration),
    or from `checkpoint` (the run's `state.json`): the core restored from it, with the halts and the funding
    rate in force then, and only the inputs after it. A live-exchange run's books at the checkpoint are
    rebuilt from `journal` (its `orders.jsonl` lines), as far as the checkpoint had seen it."""
    windows = _decision_windows(records)
    last_input = max((i for i, r in enumerate(records) if r.kind in CORE_INPUTS), default=-1)
    # no closing record after the last input: the run was killed (kill -9), maybe while it wrote that
    # input's decisions, so the log may hold only the first of them
    killed = not any(r.kind is RunFinished for r in records[last_input:])
    setup = _Setup(config=orjson.loads(orjson.dumps(config)))
    tiers_read: dict[str, tuple[tuple[float, float, int], ...]] = {}  # the coming session's (before its start)
    contracts_read: dict[str, VenueContract] = {}  # likewise (live-exchange)
    portfolio: Portfolio | None = None
    started, started_mode = False, ""
    resumed_from: int | None = None
    skip_to = -1 if checkpoint is None else int(checkpoint["event_seq"])
    held: _Held | None = None if checkpoint is None else _Held(journal)
    for index, record in enumerate(records):
        kind = record.kind
        if kind in DECISION_TYPES or kind not in WANTED:
            continue  # compared as they are replayed (see `_decision_windows`), or not the core's business
        event = record.event
        before = record.seq <= skip_to  # up to the checkpoint: only what the core there was built with
        if held is not None and not before:
            portfolio = held.restore(_build(setup, make, check, run_id), checkpoint or {}, setup.venue)
            check.last_input = f"the checkpoint at seq {skip_to}"
            held = None
        if kind is ConfigChanged:
            assert isinstance(event, ConfigChanged)
            _set_key(setup.config, event.key, orjson.loads(event.after))
        elif kind is VenueTiers:
            assert isinstance(event, VenueTiers)
            tiers_read[event.symbol] = event.tiers
        elif kind is VenueContract:
            assert isinstance(event, VenueContract)
            contracts_read[event.symbol] = event
        elif kind is RunStarted:
            assert isinstance(event, RunStarted)
            if started:
                raise InputError(f"events.jsonl seq {record.seq}: a second RunStarted; the log holds two runs")
            if event.mode not in LIVE_MODES:
                raise InputError(f"this run is {event.mode}: la replay replays backtest and live runs")
            if event.mode == "live-exchange":
                if checkpoint is not None and not journal:
                    raise InputError("this live-exchange run has no orders.jsonl: its books at the checkpoint "
                                     "cannot be rebuilt; replay it from the start")  # fmt: skip
                setup.venue = ReplayVenue()
            started, started_mode = True, event.mode
            setup.observed_funding = event.funding == "observed"
            setup.starting_balance = event.starting_balance
            setup.tiers, tiers_read = tiers_read, {}
            setup.contracts, contracts_read = contracts_read, {}
            if not before:
                check_input_files(make(setup.config), records, roles=("funding",))  # the table its broker charged
                portfolio = _build(setup, make, check, run_id)
                check.last_input = f"the session's start (seq {record.seq})"
        elif kind is RunResumed:
            assert isinstance(event, RunResumed)
            if not started:
                raise InputError(f"events.jsonl seq {record.seq}: RunResumed before the run started")
            if event.from_event_seq != resumed_from:  # the first symbol's: the restart itself
                resumed_from = event.from_event_seq
                setup.observed_funding = event.funding == "observed"
                setup.tiers, tiers_read = tiers_read, {}  # what this session read (none: the configured ones)
                setup.contracts, contracts_read = contracts_read, {}
                if held is not None:
                    held.restarted()
                elif portfolio is not None:
                    saved = orjson.loads(orjson.dumps(portfolio_snapshot(portfolio)))  # through JSON, as state.json
                    portfolio = _build(setup, make, check, run_id)
                    # live-exchange: the cash is the journal's, and the books are rebuilt from it (BooksRestored)
                    restore_portfolio(portfolio, saved, restore_cash=setup.venue is None)
                    check.last_input = (
                        f"the resume from the checkpoint at seq {event.from_event_seq} (seq {record.seq})"
                    )
            if portfolio is not None:
                _check_resumed(portfolio, event, check)
        elif kind in CORE_INPUTS:
            if held is not None:
                held.note(event)
                continue
            if portfolio is None:
                raise InputError(f"events.jsonl seq {record.seq}: an input before the run started")
            check.last_input = f"{describe(event)} (seq {record.seq})"
            check.expect(windows.get(index, ()))
            check.cut_short = killed and index == last_input  # killed while its decisions were being written
            if kind in VENUE_INPUTS:
                if setup.venue is None:
                    raise InputError(f"events.jsonl seq {record.seq}: {kind.__name__} in a {started_mode} run")
                try:
                    setup.venue.apply(event)  # type: ignore[arg-type]
                except (KeyError, IllegalTransition) as exc:  # of an order the replay never placed, say
                    refused = f"the replay's journal refuses it: {exc}"
                    check.fail(f"the exchange's report {describe(event)} (seq {record.seq})",
                               "taken by the session's order journal", refused)  # fmt: skip
            else:
                apply_input(portfolio, event)  # type: ignore[arg-type]
            check.settle()
        elif kind is RunFinished and portfolio is not None:
            assert isinstance(event, RunFinished)
            equity = portfolio.equity()
            if equity != event.final_equity:
                check.fail(f"the equity at the session's end (seq {record.seq})", repr(event.final_equity),
                           repr(equity))  # fmt: skip
    if held is not None:  # nothing after the checkpoint: the books there are the run's last
        held.restore(_build(setup, make, check, run_id), checkpoint or {}, setup.venue)
    orphans = [r for r in windows.get(-1, []) if r.seq > skip_to]
    if orphans:  # a decision with no input before it in its session: nothing a replay can feed caused it
        check.last_input = "no input (the decision came before the session's first input)"
        check.expect(orphans[:1])
        check.settle()


class _Held:
    """What was in force at a checkpoint that the checkpoint itself does not restore: the halts and the
    funding rate each core had been given since its session began (a restart starts with neither); for a
    live-exchange run also the clocks last read, the stops the exchange confirmed and the day's outside
    executions, and the order journal (its lines up to the checkpoint's count)."""

    def __init__(self, journal: tuple[dict[str, Any], ...] = ()) -> None:
        self.halts: dict[str, dict[str, str]] = {}
        self.funding: dict[str, float | None] = {}
        self.journal = journal
        self.tick: ClockTick | None = None
        self.stops: dict[str, float | None] = {}
        self.outside: list[OutsidePnl] = []

    def restarted(self) -> None:
        self.halts.clear()
        self.funding.clear()
        self.stops.clear()
        self.outside.clear()

    def note(self, event: Event) -> None:
        if isinstance(event, HaltChanged):
            symbol_halts = self.halts.setdefault(event.symbol, {})
            if event.detail is None:
                symbol_halts.pop(event.key, None)
            else:
                symbol_halts[event.key] = event.detail
        elif isinstance(event, FundingObserved):
            self.funding[event.symbol] = event.rate
        elif isinstance(event, ClockTick):
            self.tick = event
        elif isinstance(event, StopHeld):
            self.stops[event.symbol] = event.stop
        elif isinstance(event, OutsidePnl):
            self.outside.append(event)

    def restore(self, portfolio: Portfolio, checkpoint: dict[str, Any], venue: ReplayVenue | None) -> Portfolio:
        """`portfolio`, freshly built, put where the checkpoint found it, with these halts and rates."""
        restore_portfolio(portfolio, checkpoint, restore_cash=venue is None)
        for symbol, core in portfolio.cores.items():
            dict.update(core.halts, self.halts.get(symbol, {}))
            if core.funding is not None:
                core.funding.rate = self.funding.get(symbol)
        if venue is not None:
            self._restore_books(venue, checkpoint)
        return portfolio

    def _restore_books(self, venue: ReplayVenue, checkpoint: dict[str, Any]) -> None:
        """The journal as the checkpoint saw it, the books rebuilt from it (what they had already said stays
        unsaid), the clocks last read, the confirmed stops and the outside executions."""
        seen = min((int(s["broker"].get("journal_lines", 0)) for s in checkpoint["symbols"].values()), default=0)
        if seen > len(self.journal):
            raise InputError(f"orders.jsonl has {len(self.journal)} lines, fewer than the {seen} its checkpoint saw")
        tick = self.tick
        if tick is not None:
            venue.time.set(tick.venue_ms, tick.wall_ms, tick.mono_s)
        wall, mono = (0, 0.0) if tick is None else (tick.wall_ms, tick.mono_s)
        label = ",".join(venue.brokers)
        venue.apply(BooksRestored(ts=wall, symbol=label, lines=self.journal[:seen], wall_ms=wall, mono_s=mono))
        for symbol, stop in self.stops.items():
            venue.apply(StopHeld(ts=wall, symbol=symbol, stop=stop))
        for outside in self.outside:
            venue.apply(outside)


def _decision_windows(records: list[Record]) -> dict[int, list[Record]]:
    """index of each input → the decisions recorded after it, up to the next input or session boundary;
    -1 → decisions that follow no input."""
    windows: dict[int, list[Record]] = {}
    current = -1
    for index, record in enumerate(records):
        kind = record.kind
        if kind in CORE_INPUTS:
            current = index
        elif kind in BOUNDARIES:
            current = -1
        elif kind in DECISION_TYPES:
            windows.setdefault(current, []).append(record)
    return windows


def _build(setup: _Setup, make: SettingsMaker, check: DecisionCheck, run_id: str) -> Portfolio:
    settings = tiers_applied(make(setup.config), setup.tiers)
    if setup.starting_balance is not None and setup.starting_balance != settings.broker.starting_balance:
        broker = settings.broker.model_copy(update={"starting_balance": setup.starting_balance})
        settings = settings.model_copy(update={"broker": broker})
    venue = setup.venue
    return build_portfolio(
        settings,
        emit=check,
        order_id_prefix=order_id_prefix(run_id),
        observed_funding=setup.observed_funding,
        broker_factory=None if venue is None else venue.broker_factory(settings, setup.contracts),
    )


def _check_resumed(portfolio: Portfolio, event: RunResumed, check: DecisionCheck) -> None:
    """The books the replay has at a resume are the ones the session restored from its checkpoint."""
    core = portfolio.cores.get(event.symbol)
    if core is None:
        raise InputError(f"RunResumed names {event.symbol}, which the run's configuration does not trade")
    position = core.broker.position
    side, qty = (None, None) if position is None else (position.side, position.qty)
    mine = (portfolio.account.cash, side, qty)
    theirs = (event.cash, event.position_side, event.position_qty)
    if mine != theirs:
        check.fail(f"the {event.symbol} books at the resume (cash, side, qty)", repr(theirs), repr(mine))
