"""The simulated venue liquidates isolated positions on its own, at the price the paper broker does (issue 15).

Orders go over signed REST on loopback; the market is stepped by hand through a gap. The venue's close is
a reduce-only market order with no client id, at the liquidation price `execution/margin.py` gives for the
same entry, size and leverage (or at the open of a candle that opened beyond it), and it loses at most the
position's margin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import Backoff, RetryPolicy
from laptop_agents.core.candle import Candle
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.execution.margin import MarginModel
from tests.exchange.conftest import KEY, SECRET, bundled_candles, sim_config

START = 1500


def scaled(candles: list[Candle], at: int, factor: float, *, open_factor: float | None = None) -> list[Candle]:
    """Every price from candle `at` on times `factor`; that candle opens at `open_factor` instead when given."""
    out = []
    for i, c in enumerate(candles):
        f = factor if i >= at else 1.0
        o = c.open * (open_factor if i == at and open_factor is not None else f)
        out.append(Candle(c.ts, o, max(o, c.high * f), min(o, c.low * f), c.close * f, c.volume))
    return out


async def venue(series: list[Candle]) -> AsyncIterator[tuple[SimExchange, BitunixRest]]:
    async with SimExchange(sim_config(), {"BTCUSDT": series}) as sim, aiohttp.ClientSession() as http:
        retry = RetryPolicy(attempts=3, backoff=Backoff(initial_s=0.01, max_s=0.05, jitter=0))
        yield sim, BitunixRest(sim.rest_url, session=http, limiter=RateLimiter(50, 10),
                               credentials=Credentials(KEY, SECRET), retry=retry)  # fmt: skip


async def open_position(sim: SimExchange, rest: BitunixRest, side: str, leverage: int, margin_mode: str) -> None:
    await rest.change_margin_mode("BTCUSDT", margin_mode)
    await rest.change_leverage("BTCUSDT", leverage)
    await rest.place_order(symbol="BTCUSDT", side=side, qty="0.5", order_type="market", client_id="la-e-1")  # type: ignore[arg-type]
    await sim.hub.advance(sim.market.k)  # the rest of this candle: the position is older than the next one


@pytest.mark.parametrize(("side", "factor"), [("buy", 0.9), ("sell", 1 / 0.9)])
async def test_an_isolated_position_is_liquidated_at_the_papers_liquidation_price(side: str, factor: float) -> None:
    """The gap's candle opens at the old level and then falls (rises) 10 %: the price passes through the
    liquidation price inside the candle, so the venue closes there."""
    async for sim, rest in venue(scaled(bundled_candles(), START + 2, factor, open_factor=1.0)):
        await open_position(sim, rest, side, 20, "ISOLATION")
        account = sim.ledger.accounts[KEY]
        position = account.positions["BTCUSDT"]
        entry, qty = position.entry, abs(position.qty)
        balance_before = account.balance
        expected = MarginModel(20).liquidation_price("long" if side == "buy" else "short", qty, entry)
        await sim.hub.advance(2 * sim.market.k)
        assert "BTCUSDT" not in account.positions
        (liquidation,) = sim.ledger.engine.liquidations
        assert liquidation[2] == pytest.approx(expected, rel=1e-12)
        closing = [f for f in account.fills if f["reduceOnly"]]
        assert len(closing) == 1 and closing[0]["clientId"] == "" and closing[0]["price"] == pytest.approx(expected)
        margin = qty * entry / 20
        assert balance_before - account.balance <= margin + 1e-9  # never more than the margin
        trades = await rest.history_trades("BTCUSDT")
        assert any(t.reduce_only and not t.client_id for t in trades)  # the venue's close, as the daemon reads it


async def test_a_gap_beyond_the_liquidation_price_fills_at_the_open_and_loses_only_the_margin() -> None:
    async for sim, rest in venue(scaled(bundled_candles(), START + 2, 0.7)):
        await open_position(sim, rest, "buy", 20, "ISOLATION")
        account = sim.ledger.accounts[KEY]
        position = account.positions["BTCUSDT"]
        entry, qty = position.entry, abs(position.qty)
        balance_before = account.balance
        await sim.hub.advance(2 * sim.market.k)
        (liquidation,) = sim.ledger.engine.liquidations
        gap_open = sim.market.series["BTCUSDT"][START + 2].open
        assert liquidation[2] == pytest.approx(gap_open) and liquidation[3] > 0  # covered by the venue
        assert balance_before - account.balance == pytest.approx(qty * entry / 20)


async def test_a_cross_margin_position_is_not_liquidated_by_the_isolated_rule() -> None:
    async for sim, rest in venue(scaled(bundled_candles(), START + 2, 0.9, open_factor=1.0)):
        await open_position(sim, rest, "buy", 20, "CROSS")
        await sim.hub.advance(2 * sim.market.k)
        assert sim.ledger.engine.liquidations == [] and "BTCUSDT" in sim.ledger.accounts[KEY].positions
