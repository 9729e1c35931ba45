"""The contracts' rules read again while a live-exchange session runs (§6 #19): every
`live.contract_refresh_s` on the monotonic clock, recorded as the `ContractRefreshed` input a replay applies;
and a filter refusal the re-read contract does not explain, which may not repeat at every candle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aiohttp
import pytest

from laptop_agents.core.clock import LiveClock
from laptop_agents.core.events import Error, OrderRejected
from laptop_agents.core.inputs import ContractRefreshed, VenueContract
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.exchange.bitunix.wire import ContractSpec
from laptop_agents.execution.account import Account
from laptop_agents.live.contracts import spec_breaks
from laptop_agents.replay.exchange import ReplayVenue
from laptop_agents.runs.run_folder import RunFolder
from tests.live.conftest import SYMBOL, LiveHarness, live_settings


class _SteppedClocks(LiveClock):
    """The real clocks, each moved on by hand: the wall one (NTP) and the monotonic one (time passing)."""

    def __init__(self) -> None:
        self.wall_step_ms = 0
        self.mono_step_s = 0.0

    def now_ms(self) -> int:
        return super().now_ms() + self.wall_step_ms

    def monotonic_s(self) -> float:
        return super().monotonic_s() + self.mono_step_s


async def test_the_contracts_are_read_again_every_contract_refresh_s_on_the_monotonic_clock(
    sim: SimExchange, tmp_path: Path
) -> None:
    """The venue changes its tick and minimum while no order is refused: the sync pass reads the contracts
    only once `live.contract_refresh_s` passed on the monotonic clock (a wall clock stepped two hours ahead
    does not hasten it), applies and says the change once, and a replay applies the recorded input."""
    clock = _SteppedClocks()
    settings = live_settings(contract_refresh_s=600.0)
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), settings, clock=clock).start()
    try:
        assert live.venue is not None and live.broker is not None
        started = live.broker.spec
        reads = len(sim.requests_to("/market/trading_pairs"))  # the preflight's
        async with aiohttp.ClientSession() as http:
            change = {"symbol": SYMBOL, "quote_precision": 2, "min_qty": 0.002}
            async with http.post(sim.rest_url + "/admin/contract", json=change) as response:
                assert response.status == 200
        clock.wall_step_ms = 7_200_000
        await live.venue.executor.sync()
        assert len(sim.requests_to("/market/trading_pairs")) == reads and live.broker.spec == started
        clock.mono_step_s = 601.0
        await live.venue.executor.sync()
        assert len(sim.requests_to("/market/trading_pairs")) == reads + 1
        assert (live.broker.spec.tick, live.broker.spec.min_qty) == (0.01, 0.002)
        (refreshed,) = live.of(ContractRefreshed)
        assert refreshed.changes == "tick 0.1 → 0.01, min qty 0.001 → 0.002"
        (said,) = [e for e in live.of(Error) if e.where == "contract"]
        assert refreshed.changes in said.message
        await live.venue.executor.sync()  # not due again for another 600 s
        assert len(sim.requests_to("/market/trading_pairs")) == reads + 1 and len(live.of(ContractRefreshed)) == 1
        # a replay's broker, built with the start's contract, takes the recorded change the same way
        replay = ReplayVenue()
        contract = VenueContract(ts=0, symbol=SYMBOL, spec=dataclasses.asdict(started), leverage=10)
        replay.broker_factory(live.settings, {SYMBOL: contract})(SYMBOL, Account(10_000.0), lambda _e: None)
        replay.apply(refreshed)
        assert replay.brokers[SYMBOL].spec == live.broker.spec
    finally:
        await live.stop()


async def test_an_unexplained_filter_refusal_lets_the_next_entry_try_and_a_second_one_makes_entries_wait(
    live: LiveHarness,
) -> None:
    """A 10002 on an entry while the contract read again is unchanged is not the filters' doing: the next
    decision may still go (a refusal is no reason to skip a signal), but a second one in a row halts the
    symbol's entries for `live.refusal_backoff_s`, so an unexplained refusal cannot repeat at every candle."""
    assert live.venue is not None
    live.sim.faults.update({"refuse_order_next": 2, "refuse_order_code": 10002})
    assert live.enter("la-e-000001", 0.02)
    await live.send_queued()
    assert live.halts == {} and len(live.sim.requests_to("/market/trading_pairs")) == 2  # read at once, lifted
    assert live.enter("la-e-000002", 0.02)
    await live.send_queued()
    assert "wait 300 s" in live.halts["exchange_filters"]
    said = [e for e in live.of(Error) if e.where == "contract"]
    assert len(said) == 2 and "no change" in said[0].message and "wait 300 s" in said[1].message
    assert [e.reason for e in live.of(OrderRejected)] == ["exchange_rejected", "exchange_rejected"]
    assert len(live.placements()) == 2 and live.exchange_orders() == []
    assert live.venue.executor.status()["entry_waits"][f"{SYMBOL}:exchange_filters"]["left_s"] > 290


async def test_a_filter_refusal_explained_by_a_change_an_earlier_read_applied_is_not_held_against_entries(
    sim: SimExchange, tmp_path: Path
) -> None:
    """The venue raised its minimum after an entry was sized; the periodic read applied the change before
    the entry's refusal (30016) came back. Before, the read the refusal asked for saw no change, so the
    refusal was called "not the filters" and counted: the next unexplained refusal then halted entries.
    Now the contract as it stands (the order is below its minimum) explains it."""
    live = await LiveHarness(sim, RunFolder.create(tmp_path / "runs", "x"), live_settings()).start()
    try:
        assert live.venue is not None and live.broker is not None
        assert live.enter("la-e-000001", 0.02)  # checked against min qty 0.001, queued
        async with aiohttp.ClientSession() as http:
            change = {"symbol": SYMBOL, "min_qty": 0.05}
            async with http.post(sim.rest_url + "/admin/contract", json=change) as response:
                assert response.status == 200
        await live.venue.executor.contracts.refresh()  # the periodic read, due now: the change applied and said
        assert live.broker.spec.min_qty == 0.05
        await live.send_queued()  # the venue refuses the 0.02 entry below its new minimum
        assert [e.reason for e in live.of(OrderRejected)] == ["exchange_rejected"] and live.halts == {}
        said = [e for e in live.of(Error) if e.where == "contract"]
        assert len(said) == 1 and "min qty 0.001 → 0.05" in said[0].message, [e.message for e in said]
        # an unexplained refusal now is the first one in a row: the next entry may still try
        live.sim.faults.update({"refuse_order_next": 1, "refuse_order_code": 10002})
        assert live.enter("la-e-000002", 0.05)
        await live.send_queued()
        assert live.halts == {}, live.halts
        said = [e for e in live.of(Error) if e.where == "contract"]
        assert len(said) == 2 and "no change" in said[1].message and "the next entry may try" in said[1].message
    finally:
        await live.stop()


SPEC = ContractSpec(symbol=SYMBOL, base="BTC", quote="USDT", min_qty=0.001, max_market_qty=100.0, max_limit_qty=500.0,
                    qty_step=0.001, tick=0.1, min_leverage=1, max_leverage=125, default_leverage=20, status="OPEN",
                    api_trading=True)  # fmt: skip


@pytest.mark.parametrize(
    ("qty", "price", "kind", "broken"),
    [
        (0.02, None, "MARKET", None),
        (0.003, 50_000.3, "LIMIT", None),  # 0.003 / 0.001 is 2.9999999999999996: on the lot
        (0.0005, None, "MARKET", "below the minimum"),
        (150.0, None, "MARKET", "above the maximum 100"),
        (150.0, 50_000.0, "LIMIT", "above the maximum 100"),  # the broker checks every order against it
        (0.0125, None, "MARKET", "off the lot"),
        (0.01, 50_000.05, "LIMIT", "off the tick"),
        (0.01, 50_000.05, "MARKET", None),  # a market order's reference price is not checked
    ],
)
def test_spec_breaks_names_the_rule_an_order_breaks(
    qty: float, price: float | None, kind: str, broken: str | None
) -> None:
    found = spec_breaks(SPEC, qty, price, kind)
    assert (found is None) if broken is None else (found is not None and broken in found), found
