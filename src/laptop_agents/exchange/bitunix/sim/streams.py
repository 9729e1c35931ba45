"""The simulated exchange's WebSockets (`/public/`, `/private/`) and the replay loop that feeds them.

Per connection, frames go through one bounded outbox drained by one sender task, so every client sees
pushes in order; a client too slow to drain it is dropped, as real servers do. The server speaks first
(`{"op":"connect",...}`), answers JSON pings, accepts subscribes silently (no ack, as probed), acks
unsubscribes, closes a connection idle for `ws_idle_timeout_s` and one that sends more than
`ws_max_messages_per_s`. Drops are abrupt (no close frame), like the real 1006 closes.

Besides the kline channel, every public channel of Bitunix's SDK is served from the same replay
(`market_frames`): `ticker`, `trade`, `price` and `depth_book1/5/15` push on every market step to the
connections subscribed to them; `ticker`, `price` and depth also send a snapshot on subscribe (an unknown
symbol gets one depth frame with empty levels and then nothing, as probed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from laptop_agents.base.tasks import cancel_and_wait
from laptop_agents.exchange.bitunix.signing import sign_ws_login
from laptop_agents.exchange.bitunix.sim import market_frames as frames
from laptop_agents.exchange.bitunix.sim.broken_candles import broken
from laptop_agents.exchange.bitunix.sim.market import Push, partial
from laptop_agents.exchange.bitunix.wire import WS_INTERVALS, fmt

if TYPE_CHECKING:
    from laptop_agents.exchange.bitunix.sim.server import SimExchange

_OUTBOX = 10_000
_MALFORMED = ("{not json", '{"op":"mystery","data":42}')


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    request: web.Request
    private: bool
    subs: set[tuple[str, str]] = field(default_factory=set)
    api_key: str | None = None
    outbox: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(_OUTBOX))
    received: deque[float] = field(default_factory=deque)
    sender: asyncio.Task[None] | None = None
    opened: float = field(default_factory=time.monotonic)
    noticed: bool = False

    def send(self, text: str) -> None:
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.abort()

    def abort(self) -> None:
        if self.request.transport is not None:
            self.request.transport.abort()


class StreamHub:
    def __init__(self, exchange: SimExchange) -> None:
        self.x = exchange
        self.conns: set[_Conn] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._skip_from = self._skip_to = 0
        self._broken_from = self._broken_to = 0  # `invalid_ohlc_next`: candles pushed broken
        self._lost_from = self._lost_to = 0  # `lose_candles`: candles the venue lost
        self._held: list[str] = []
        self._last_push: dict[str, Push] = {}  # per symbol, for the trade between two pushes
        self._playing = asyncio.Event()
        self._playing.set()
        self.channel = f"market_kline_{WS_INTERVALS[exchange.config.interval]}"

    async def start(self) -> None:
        if self.x.config.speed > 0:
            self._tasks.append(asyncio.create_task(self._replay_loop(), name="sim_replay"))
        self._tasks.append(asyncio.create_task(self._dropper(), name="sim_dropper"))

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()
        for conn in list(self.conns):
            conn.abort()

    def connection_counts(self) -> dict[str, int]:
        return {"public": sum(not c.private for c in self.conns), "private": sum(c.private for c in self.conns)}

    def drop_all(self) -> int:
        conns = list(self.conns)
        for conn in conns:
            conn.abort()
        return len(conns)

    async def advance(self, pushes: int) -> None:
        """Send `pushes` pushes now (the way tests step a replay whose speed is 0)."""
        for _ in range(pushes):
            if not await self._step():
                break

    # -- Replay ------------------------------------------------------------------------------------------

    def pause(self) -> None:
        """Freeze the market (a replay at `speed` > 0): no push, no fill, no TP/SL trigger until `play`."""
        self._playing.clear()

    def play(self) -> None:
        self._playing.set()

    async def _replay_loop(self) -> None:
        market = self.x.market
        wall0 = time.monotonic()
        market0 = market.now_ms()
        while True:
            if not self._playing.is_set():
                await self._playing.wait()
                wall0, market0 = time.monotonic(), market.now_ms()  # the market goes on from where it stood
            due_ts = market.next_push_ts()
            if due_ts is None:
                return
            delay = wall0 + (due_ts - market0) / 1000.0 / self.x.config.speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._playing.is_set():  # paused meanwhile: the push waits for `play`
                await self._step()

    async def _dropper(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            every = self.x.faults.drop_every_s
            if every > 0 and time.monotonic() - last >= every:
                last = time.monotonic()
                if self.drop_all():
                    self.x.faults.fired("drop_every_s")
            self._cut_aged()

    def _cut_aged(self) -> None:
        """The venue's fixed connection lifetime (`max_connection_age_s`), its shutdown notice first if asked."""
        faults = self.x.faults
        if faults.max_connection_age_s <= 0:
            return
        now = time.monotonic()
        for conn in list(self.conns):
            age = now - conn.opened
            if age >= faults.max_connection_age_s:
                self.conns.discard(conn)  # cut once: its handler only notices on its next read
                conn.abort()
                faults.fired("max_connection_age_s")
            elif not conn.noticed and 0 < faults.max_connection_age_s - age <= faults.shutdown_notice_s:
                conn.noticed = True
                conn.send(orjson.dumps({"op": "serverShutdown", "ts": self.x.market.now_ms()}).decode())
                faults.fired("shutdown_notice_s")

    async def _step(self) -> bool:
        pushes = self.x.market.step()
        if not pushes:
            return False
        faults = self.x.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        for push in pushes:
            self.x.ledger.on_push(push)
        if faults.skip_candles > 0:
            step = self.x.market.interval_ms
            self._skip_from = pushes[0].candle_ts + step  # from the next candle on, whole candles only
            self._skip_to = self._skip_from + faults.skip_candles * step
            faults.fired("skip_candles")
            faults.skip_candles = 0
        if faults.invalid_ohlc_next > 0 or faults.lose_candles > 0:
            self._range_faults(pushes[0].candle_ts + self.x.market.interval_ms)
        if faults.silent:
            faults.fired("silent")
            return True
        if faults.take("malformed_frames"):
            for text in _MALFORMED:
                self._broadcast_all(text)
        for push in pushes:
            if self._skip_from <= push.candle_ts < self._skip_to and faults.skip_symbol in ("", push.symbol):
                continue
            if self._lost_from <= push.candle_ts < self._lost_to:
                continue
            if push.final and faults.take("drop_final_push_next"):
                continue
            if push.final and faults.late_trades > 0:
                candle = self.x.market.candle_at(push.symbol, push.candle_ts)
                o, h, lo, c, v = partial(candle, 1.0 - min(faults.late_trades, 0.99))
                push = replace(push, open=o, high=h, low=lo, close=c, base_volume=v)
                faults.fired("late_trades")
            if self._broken_from <= push.candle_ts < self._broken_to:
                o, h, lo, c, v = broken(faults.invalid_ohlc_kind, (push.open, push.high, push.low, push.close,
                                                                   push.base_volume))  # fmt: skip
                push = replace(push, open=o, high=h, low=lo, close=c, base_volume=v)
                if push.final:
                    faults.fired("invalid_ohlc_next")
            frame = self._kline_frame(push)
            if faults.take("reorder_pushes"):
                self._held.append(frame)
                continue
            self._broadcast(push.symbol, frame)
            if faults.take("duplicate_pushes"):
                self._broadcast(push.symbol, frame)
            while self._held:
                self._broadcast(push.symbol, self._held.pop(0))
        for push in pushes:
            self._market_frames(push)
        return True

    def _range_faults(self, first_ts: int) -> None:
        """`invalid_ohlc_next` and `lose_candles` take effect on the candles from `first_ts` (the next one) on."""
        faults, step = self.x.faults, self.x.market.interval_ms
        if faults.invalid_ohlc_next > 0:
            self._broken_from, self._broken_to = first_ts, first_ts + faults.invalid_ohlc_next * step
            if faults.invalid_ohlc_rest:
                faults.invalid_klines.append([self._broken_from, self._broken_to])
            faults.invalid_ohlc_next = 0
        if faults.lose_candles > 0:
            self._lost_from, self._lost_to = first_ts, first_ts + faults.lose_candles * step
            faults.missing_klines.append([self._lost_from, self._lost_to])
            faults.fired("lose_candles")
            faults.lose_candles = 0

    def _market_frames(self, push: Push) -> None:
        """The other public channels for one symbol's step, built only when a connection wants them."""
        previous, self._last_push[push.symbol] = self._last_push.get(push.symbol), push
        wanted = {ch for conn in self.conns if not conn.private for s, ch in conn.subs if s == push.symbol}
        for channel in wanted.intersection(frames.PUBLIC_CHANNELS):
            data = frames.trade_data(previous, push) if channel == "trade" else self._snapshot(channel, push.symbol)
            if data:
                self._broadcast(
                    push.symbol,
                    orjson.dumps(frames.public_frame(channel, push.symbol, push.ts, data)).decode(),
                    channel,
                )

    def _snapshot(self, channel: str, symbol: str) -> Any:
        if channel == "ticker":
            return frames.ticker_data(self.x, symbol)
        if channel == "price":
            return frames.price_data(self.x, symbol)
        bids, asks = frames.book(self.x, symbol, frames.DEPTH_CHANNELS[channel])
        return {"b": bids, "a": asks}

    def _kline_frame(self, push: Push) -> str:
        data = {
            "o": fmt(push.open),
            "h": fmt(push.high),
            "l": fmt(push.low),
            "c": fmt(push.close),
            "b": fmt(push.base_volume),
            "q": fmt(push.base_volume * push.close),
        }
        return orjson.dumps({"ch": self.channel, "symbol": push.symbol, "ts": push.ts, "data": data}).decode()

    def _broadcast(self, symbol: str, text: str, channel: str | None = None) -> None:
        key = (symbol, channel or self.channel)
        for conn in self.conns:
            if key in conn.subs:
                conn.send(text)

    def _broadcast_all(self, text: str) -> None:
        for conn in self.conns:
            if not conn.private:
                conn.send(text)

    def private_push(self, api_key: str, channel: str, data: dict[str, Any]) -> None:
        if self.x.faults.silent:
            return
        if self.x.config.ws_enum_case == "title":  # C9: Buy/Sell, Limit/Market as seen on the wire
            keys = ("side",) if channel == "tpsl" else ("side", "type")  # a tpsl `type` is POSITION_TPSL/TPSL
            data = {k: v.title() if k in keys and isinstance(v, str) else v for k, v in data.items()}
        text = orjson.dumps({"ch": channel, "ts": self.x.market.now_ms(), "data": data}).decode()
        for conn in self.conns:
            if conn.private and conn.api_key == api_key:
                conn.send(text)

    async def flush_private(self, api_key: str, within_s: float = 2.0) -> None:
        """Wait until the private pushes queued for `api_key` have been written to their sockets."""
        outboxes = [c.outbox.join() for c in self.conns if c.private and c.api_key == api_key]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*outboxes), within_s)

    # -- Connections -------------------------------------------------------------------------------------

    async def public_handler(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, private=False)

    async def private_handler(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, private=True)

    async def _serve(self, request: web.Request, *, private: bool) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = _Conn(ws, request, private)
        conn.sender = asyncio.create_task(self._sender(conn), name="sim_ws_sender")
        self.conns.add(conn)
        conn.send(orjson.dumps({"op": "connect", "data": {"result": True}}).decode())
        try:
            await self._read(conn)
        finally:
            self.conns.discard(conn)
            await cancel_and_wait(conn.sender)
        return ws

    async def _sender(self, conn: _Conn) -> None:
        while True:
            text = await conn.outbox.get()
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            finally:
                conn.outbox.task_done()

    async def _read(self, conn: _Conn) -> None:
        config = self.x.config
        while True:
            try:
                msg = await conn.ws.receive(timeout=config.ws_idle_timeout_s)
            except TimeoutError:
                conn.abort()  # idle: dropped without a close frame, like the real server
                return
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            if msg.type != WSMsgType.TEXT:
                continue
            now = time.monotonic()
            conn.received.append(now)
            while conn.received and conn.received[0] <= now - 1.0:
                conn.received.popleft()
            if len(conn.received) > config.ws_max_messages_per_s:
                conn.abort()
                return
            try:
                frame = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                continue  # the real server ignores non-JSON
            if isinstance(frame, dict):
                self._on_frame(conn, frame)

    def _on_frame(self, conn: _Conn, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "ping":
            if not self.x.faults.silent:
                conn.send(orjson.dumps({"op": "ping", "pong": frame.get("ping"), "ping": int(time.time())}).decode())
        elif op == "subscribe":
            for arg in frame.get("args") or []:
                if not isinstance(arg, dict):
                    continue
                if len(conn.subs) >= 300:
                    conn.send(
                        orjson.dumps(
                            {
                                "op": "subscribe",
                                "data": {"msg": "subscribe channel > 300", "nonce": "", "result": False},
                            }
                        ).decode()
                    )
                    break
                channel = str(arg.get("ch", ""))
                if self.x.config.accept_last_kline_prefix and channel.startswith("last_kline_"):
                    channel = "market_kline_" + channel.removeprefix("last_kline_")  # C3
                symbol = str(arg.get("symbol", "")).upper()
                conn.subs.add((symbol, channel))
                if not conn.private and channel in frames.PUBLIC_CHANNELS and channel != "trade":
                    self._send_snapshot(conn, channel, symbol)
                if self.x.config.subscribe_ack:  # C7
                    conn.send(
                        orjson.dumps(
                            {"op": "subscribe", "ch": channel, "symbol": symbol, "data": {"result": True}}
                        ).decode()
                    )
        elif op == "unsubscribe":
            for arg in frame.get("args") or []:
                if isinstance(arg, dict):
                    conn.subs.discard((str(arg.get("symbol", "")).upper(), str(arg.get("ch", ""))))
            conn.send(orjson.dumps({"op": "unsubscribe", "ts": int(time.time() * 1000), "data": "success"}).decode())
        elif op == "login" and conn.private:
            conn.send(orjson.dumps({"op": "login", "data": self._login(conn, frame)}).decode())

    def _send_snapshot(self, conn: _Conn, channel: str, symbol: str) -> None:
        if symbol in self.x.market.series:
            data = self._snapshot(channel, symbol)
        elif channel in frames.DEPTH_CHANNELS:
            data = {"b": [], "a": []}  # probed: an unknown symbol gets one empty book, then nothing
        else:
            return
        conn.send(orjson.dumps(frames.public_frame(channel, symbol, self.x.market.now_ms(), data)).decode())

    def _login(self, conn: _Conn, frame: dict[str, Any]) -> dict[str, Any]:
        args = frame.get("args") or [{}]
        arg = args[0] if isinstance(args[0], dict) else {}
        key = str(arg.get("apiKey", ""))
        account = self.x.ledger.accounts.get(key)
        try:
            stamp = int(arg.get("timestamp", 0))
        except (TypeError, ValueError):
            stamp = 0
        seconds = stamp / 1000 if stamp > 100_000_000_000 else stamp  # C4: seconds (doc) or ms (Java SDK)
        if account is None:
            return {"result": False, "msg": "api-key not found"}
        if abs(time.time() - seconds) * 1000 > self.x.config.timestamp_window_ms:
            return {"result": False, "msg": "timestamp out of window"}
        expected = sign_ws_login(api_key=key, secret=account.secret, nonce=str(arg.get("nonce", "")), timestamp=stamp)
        if expected != arg.get("sign"):
            return {"result": False, "msg": "Sign signature error"}
        conn.api_key = key
        return {"result": True}
