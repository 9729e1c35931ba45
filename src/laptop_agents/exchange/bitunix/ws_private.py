"""The private socket (§5.7, §5.8): login, then order, position, balance and tpsl pushes as (channel, data)."""

from __future__ import annotations

import time
from typing import Any

from websockets.asyncio.client import ClientConnection

from laptop_agents.exchange.bitunix.rest import Credentials
from laptop_agents.exchange.bitunix.signing import new_nonce, sign_ws_login
from laptop_agents.exchange.bitunix.ws_socket import HandshakeRefused, ReconnectingSocket

PRIVATE_CHANNELS = ("order", "position", "balance", "tpsl")


class BitunixPrivateStream(ReconnectingSocket[tuple[str, dict[str, Any]]]):
    """`await stream.get()` → (channel, data). Logs in again after every reconnect."""

    name = "bitunix_private_ws"

    def __init__(self, url: str, *, credentials: Credentials, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._credentials = credentials

    async def handshake(self, ws: ClientConnection) -> None:
        creds = self._credentials
        nonce = new_nonce()
        stamp = int(time.time())  # C4: seconds, as the docs and the official demos send
        signature = sign_ws_login(api_key=creds.api_key, secret=creds.secret, nonce=nonce, timestamp=stamp)
        await self.send_limited(
            ws,
            {"op": "login", "args": [{"apiKey": creds.api_key, "timestamp": stamp, "nonce": nonce, "sign": signature}]},
        )
        while True:
            frame = await self.recv_frame(ws)
            if frame.get("op") == "login":
                break
        data = frame.get("data")
        if not (isinstance(data, dict) and data.get("result") is True):
            raise HandshakeRefused(f"login refused: {data}")
        await self.send_limited(ws, {"op": "subscribe", "args": [{"ch": ch} for ch in PRIVATE_CHANNELS]})

    def handle(self, frame: dict[str, Any]) -> tuple[bool, tuple[str, dict[str, Any]] | None]:
        channel = frame.get("ch")
        data = frame.get("data")
        if channel in PRIVATE_CHANNELS and isinstance(data, dict):
            return True, (str(channel), data)
        if frame.get("op") not in ("subscribe", "unsubscribe", "login"):
            self.stats.unknown += 1
        return False, None
