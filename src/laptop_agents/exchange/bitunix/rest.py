"""The Bitunix REST client: one method per endpoint the daemon uses, each reply parsed into a typed model.

The sending itself (limiter, retries, signing, clock offset, bans) is `SignedTransport` in
`rest_transport.py`. `place_order` is never retried: after an unclear answer the caller looks the order
up by client id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from laptop_agents.core.candle import Candle
from laptop_agents.core.rejected import RejectedCandle
from laptop_agents.exchange.bitunix.errors import ExchangeError, MalformedReply
from laptop_agents.exchange.bitunix.replies import AccountInfo, OrderInfo, PlaceReply, PositionInfo, TierInfo, TradeInfo
from laptop_agents.exchange.bitunix.rest_transport import Credentials, SignedTransport, default_session
from laptop_agents.exchange.bitunix.wire import REST_INTERVALS, ContractSpec, int_ms, num, parse_kline_rows

KLINE_PAGE = 200
TRADES_PAGE = 100


class BitunixRest(SignedTransport):
    """Bitunix futures over REST (bitunix-api.md §3, §4), for the daemon, the preflight and `la download`."""

    on_invalid_kline: Callable[[str, RejectedCandle], None] | None = None
    """Set (the session's feed): a kline row that breaks the OHLC rules is left out of its page and told
    here with its symbol; unset, it fails the page (`CandleError`)."""

    # -- Public market data ------------------------------------------------------------------------------

    async def klines(
        self, symbol: str, interval: str, *, end_ms: int | None = None, limit: int = KLINE_PAGE
    ) -> list[Candle]:
        """One page of candles, ascending. Without `end_ms` the newest row is the forming candle: dropped."""
        rows = await self.kline_rows(symbol, interval, end_ms=end_ms, limit=limit)
        told = self.on_invalid_kline
        if told is None:
            candles = parse_kline_rows(rows)
            return candles[:-1] if end_ms is None and candles else candles
        rejected: list[RejectedCandle] = []
        candles = parse_kline_rows(rows, rejected.append)
        times = [c.ts for c in candles] + [bad.ts for bad in rejected]
        forming = max(times, default=None) if end_ms is None else None
        for bad in rejected:
            if bad.ts != forming:  # a forming candle is no record yet
                told(symbol, bad)
        return [c for c in candles if c.ts != forming]

    async def kline_rows(
        self, symbol: str, interval: str, *, end_ms: int | None = None, limit: int = KLINE_PAGE
    ) -> list[Any]:
        """One page of kline rows as the venue sent them (newest first; the forming one when `end_ms` is
        None), for a caller that judges each row on its own (`la download`)."""
        params: dict[str, str] = {
            "symbol": symbol,
            "interval": REST_INTERVALS[interval],
            "limit": str(min(limit, KLINE_PAGE)),
        }
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        rows = await self._call("GET", "/market/kline", params=params)
        return rows if isinstance(rows, list) else []

    async def history(
        self, symbol: str, interval: str, *, start_ms: int, end_ms: int | None = None, max_candles: int = 200_000
    ) -> list[Candle]:
        """Closed candles with open time in [start_ms, end_ms), paging backwards 200 at a time."""
        out: dict[int, Candle] = {}
        cursor = end_ms
        while len(out) < max_candles:
            page = await self.klines(symbol, interval, end_ms=cursor)
            fresh = [c for c in page if c.ts not in out and (cursor is None or c.ts < cursor)]
            for candle in fresh:
                if candle.ts >= start_ms:
                    out[candle.ts] = candle
            if not fresh or page[0].ts <= start_ms:
                break
            cursor = page[0].ts
        return [out[ts] for ts in sorted(out)]

    async def trading_pairs(self, symbols: list[str] | None = None) -> list[ContractSpec]:
        params = {"symbols": ",".join(symbols)} if symbols else None
        rows = await self._call("GET", "/market/trading_pairs", params=params)
        return [ContractSpec.from_wire(r) for r in _rows(rows, None, "trading_pairs")]

    async def position_tiers(self, symbol: str) -> list[TierInfo]:
        """The symbol's risk-limit tiers, lowest first (public)."""
        rows = await self._call("GET", "/position/get_position_tiers", params={"symbol": symbol})
        return sorted((TierInfo.from_wire(r) for r in _rows(rows, None, "get_position_tiers")), key=lambda t: t.level)

    async def tickers(self, symbols: list[str] | None = None) -> list[dict[str, Any]]:
        params = {"symbols": ",".join(symbols)} if symbols else None
        rows: list[dict[str, Any]] = await self._call("GET", "/market/tickers", params=params) or []
        return rows

    async def depth(self, symbol: str, limit: str = "15") -> dict[str, list[tuple[float, float]]]:
        data = await self._call("GET", "/market/depth", params={"symbol": symbol, "limit": limit})
        if not isinstance(data, Mapping):
            raise MalformedReply(f"bitunix depth: expected an object, got {data!r:.80}")
        try:
            return {
                side: [(num(p, "price"), num(q, "qty")) for p, q in _rows(data.get(side), None, "depth")]
                for side in ("bids", "asks")
            }
        except (TypeError, ValueError):  # a level that is not a [price, qty] pair
            raise MalformedReply(f"bitunix depth: expected [price, qty] levels, got {data!r:.80}") from None

    async def funding_rate(self, symbol: str) -> float:
        """The current funding rate per period as a fraction (the wire gives percent: "0.01" = 0.0001)."""
        data = await self._call("GET", "/market/funding_rate", params={"symbol": symbol})
        row = data[0] if isinstance(data, list) and data else data  # C6: array or object
        if not isinstance(row, Mapping):
            raise MalformedReply(f"bitunix funding_rate: expected an object, got {data!r:.80}")
        return num(row.get("fundingRate"), "fundingRate") / 100.0

    async def funding_history(
        self, symbol: str, *, end_ms: int | None = None, start_ms: int | None = None, limit: int = KLINE_PAGE
    ) -> list[tuple[int, float]]:
        """One page of funding settlements (time ms, rate as a fraction: this endpoint is not in percent),
        ascending; the venue picks the `limit` (≤ 200) newest before `end_ms`."""
        params = {"symbol": symbol, "limit": str(min(limit, KLINE_PAGE))}
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        if start_ms is not None:
            params["starTime"] = str(start_ms)  # sic: the documented spelling (§3.5)
        out = []
        for row in _rows(await self._call("GET", "/market/get_funding_rate_history", params=params), None, "funding"):
            if not isinstance(row, Mapping):
                raise MalformedReply(f"bitunix get_funding_rate_history: expected objects, got {row!r:.80}")
            out.append((int_ms(row.get("fundingTime"), "fundingTime"), num(row.get("fundingRate"), "fundingRate")))
        return sorted(out)

    # -- Private -----------------------------------------------------------------------------------------

    async def place_order(
        self,
        *,
        symbol: str,
        side: Literal["buy", "sell"],
        qty: str,
        order_type: Literal["market", "limit"],
        client_id: str,
        price: str | None = None,
        reduce_only: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Send one order; returns the exchange order id. Never retried here (see the module docstring)."""
        body: dict[str, Any] = {
            "symbol": symbol,
            "side": side.upper(),
            "orderType": order_type.upper(),
            "qty": qty,
            "clientId": client_id,
            "reduceOnly": reduce_only,
        }
        if price is not None:
            body["price"] = price
            body["effect"] = "GTC"
        body.update(extra or {})
        data = await self._call("POST", "/trade/place_order", body=body, signed=True, retry=False, urgent=True)
        return PlaceReply.from_wire(data).order_id

    async def cancel_orders(
        self, symbol: str, *, order_ids: Sequence[str] = (), client_ids: Sequence[str] = ()
    ) -> dict[str, Any]:
        order_list = [{"orderId": o} for o in order_ids] + [{"clientId": c} for c in client_ids]
        result: dict[str, Any] = await self._call(
            "POST", "/trade/cancel_orders", signed=True, body={"symbol": symbol, "orderList": order_list}, urgent=True
        )
        return result

    async def order_detail(self, *, order_id: str | None = None, client_id: str | None = None) -> OrderInfo:
        params = {"orderId": order_id} if order_id else {"clientId": client_id or ""}
        data = await self._call("GET", "/trade/get_order_detail", params=params, signed=True)
        row = data[0] if isinstance(data, list) and data else data
        return OrderInfo.from_wire(row)

    async def pending_orders(self, symbol: str | None = None) -> list[OrderInfo]:
        params = {"symbol": symbol, "limit": "100"} if symbol else {"limit": "100"}
        data = await self._call("GET", "/trade/get_pending_orders", params=params, signed=True)
        return [OrderInfo.from_wire(r) for r in _rows(data, "orderList", "get_pending_orders")]

    async def pending_positions(self, symbol: str | None = None) -> list[PositionInfo]:
        data = await self._call(
            "GET", "/position/get_pending_positions", params={"symbol": symbol} if symbol else None, signed=True
        )
        return [PositionInfo.from_wire(r) for r in _rows(data, None, "get_pending_positions")]

    async def history_trades(
        self, symbol: str | None = None, *, start_ms: int | None = None, limit: int = TRADES_PAGE, skip: int = 0
    ) -> list[TradeInfo]:
        """One page of executions, newest first (up to 100, after skipping `skip` newer ones)."""
        params = {"limit": str(min(limit, TRADES_PAGE))}
        if skip:
            params["skip"] = str(skip)
        if symbol:
            params["symbol"] = symbol
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        data = await self._call("GET", "/trade/get_history_trades", params=params, signed=True)
        return [TradeInfo.from_wire(r) for r in _rows(data, "tradeList", "get_history_trades")]

    async def trades_since(self, symbol: str, *, start_ms: int | None, max_pages: int = 100) -> list[TradeInfo]:
        """Every execution since `start_ms`, page after page (newest first, by `skip`): a trade that lands
        meanwhile shifts the pages, so one may be read twice (deduplicated here), never skipped. More than
        `max_pages` pages is an error rather than a silent cut (the oldest would be the ones lost)."""
        seen: dict[str, TradeInfo] = {}
        for number in range(max_pages):
            page = await self.history_trades(symbol, start_ms=start_ms, skip=number * TRADES_PAGE)
            for trade in page:
                seen.setdefault(trade.trade_id, trade)
            if len(page) < TRADES_PAGE:
                return list(seen.values())
        raise ExchangeError(
            f"bitunix get_history_trades: more than {max_pages * TRADES_PAGE} executions since {start_ms}"
        )

    async def account(self, margin_coin: str = "USDT") -> AccountInfo:
        return AccountInfo.from_wire(
            await self._call("GET", "/account", params={"marginCoin": margin_coin}, signed=True)
        )

    async def leverage_margin_mode(self, symbol: str, margin_coin: str = "USDT") -> tuple[int, str]:
        """(leverage, margin mode ISOLATION|CROSS) currently set for `symbol`."""
        params = {"symbol": symbol, "marginCoin": margin_coin}
        data = await self._call("GET", "/account/get_leverage_margin_mode", params=params, signed=True)
        if not isinstance(data, Mapping):
            raise ExchangeError(f"bitunix get_leverage_margin_mode: unexpected data {data!r}")
        return int(num(data.get("leverage", 0), "leverage")), str(data.get("marginMode", "")).upper()

    async def change_margin_mode(self, symbol: str, mode: str, margin_coin: str = "USDT") -> None:
        await self._call(
            "POST",
            "/account/change_margin_mode",
            signed=True,
            body={"symbol": symbol, "marginCoin": margin_coin, "marginMode": mode},
        )

    async def modify_position_tpsl(
        self, symbol: str, position_id: str, *, sl_price: str | None, tp_price: str | None
    ) -> None:
        """Move the whole-position stop-loss / take-profit of `position_id` (a trailing stop), triggered on
        the last price, closed at market."""
        body: dict[str, Any] = {"symbol": symbol, "positionId": position_id}
        if sl_price is not None:
            body |= {"slPrice": sl_price, "slStopType": "LAST_PRICE"}
        if tp_price is not None:
            body |= {"tpPrice": tp_price, "tpStopType": "LAST_PRICE"}
        await self._call("POST", "/tpsl/position/modify_order", signed=True, body=body, urgent=True)

    async def change_position_mode(self, mode: Literal["ONE_WAY", "HEDGE"]) -> None:
        """Account-wide; the venue refuses it (20009) while any position is open."""
        await self._call("POST", "/account/change_position_mode", signed=True, body={"positionMode": mode})

    async def change_leverage(self, symbol: str, leverage: int, margin_coin: str = "USDT") -> None:
        await self._call(
            "POST",
            "/account/change_leverage",
            signed=True,
            body={"symbol": symbol, "marginCoin": margin_coin, "leverage": leverage},
        )


def _rows(data: Any, key: str | None, what: str) -> list[Any]:
    """The list of records in a reply: `data` itself (`key` None) or `data[key]`; nothing is an empty
    list, anything else but a list is a `MalformedReply`."""
    if key is not None and data is not None:
        if not isinstance(data, Mapping):
            raise MalformedReply(f"bitunix {what}: expected an object with {key!r}, got {data!r:.80}")
        data = data.get(key)
    if data is None:
        return []
    if not isinstance(data, list):
        raise MalformedReply(f"bitunix {what}: expected a list, got {data!r:.80}")
    return data


__all__ = [
    "AccountInfo", "BitunixRest", "Credentials", "OrderInfo", "PositionInfo", "TradeInfo", "default_session"
]  # fmt: skip
