"""§6 scenario 8 (reliability.md): a venue's scheduled disconnect (a fixed connection age, Binance's 24 h) or
its `serverShutdown` notice. Before, the sockets only reconnected after the drop: a `Reconnected`, a gap the
REST backfill had to fill, private pushes in flight lost. Now a socket rotates before its
`max_connection_age_s` (or at once on the notice): a second connection does the handshake, takes over once the
two streams overlap, and the first is closed; what both received is handed out once.

Over real sockets on loopback, with the simulator's `max_connection_age_s` cutting every connection at a fixed
age (and `shutdown_notice_s` warning first) and the client's limit a little under it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from laptop_agents.base.rate_limiter import RateLimiter
from laptop_agents.base.retry import Backoff, RetryPolicy
from laptop_agents.core.candle import Candle
from laptop_agents.core.events import ConnectionRotated, Event, Reconnected
from laptop_agents.daemon.daemon_log import LOG_FILE, DaemonLog
from laptop_agents.exchange.bitunix.rest import BitunixRest, Credentials, default_session
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.exchange.bitunix.ws_handover import hand_over
from laptop_agents.exchange.bitunix.ws_private import BitunixPrivateStream
from laptop_agents.exchange.bitunix.ws_public import BitunixPublicStream
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import advance_until, start_live
from tests.daemon.test_live_paper import LIVE_SETTINGS, START
from tests.exchange.conftest import KEY, SECRET, bundled_candles, eventually, sim_config
from tests.helpers import settings

FAST_BACKOFF = Backoff(initial_s=0.02, max_s=0.1)
SPEED = 1200.0
"""A 1-minute candle every 50 ms of wall time, a push every 12.5 ms: the market moves on during every rotation."""


@asynccontextmanager
async def public_stream(
    cutoff_s: float, *, max_age_s: float, notice_s: float = 0.0
) -> AsyncIterator[tuple[SimExchange, BitunixPublicStream, list[Event]]]:
    """A replay at `SPEED` whose connections are cut at `cutoff_s` (`notice_s` after a notice), and the
    public stream reading it with `max_age_s` (0: no rotation of its own)."""
    async with SimExchange(sim_config(speed=SPEED), {"BTCUSDT": bundled_candles()}) as sim:
        sim.faults.update({"max_connection_age_s": cutoff_s, "shutdown_notice_s": notice_s})
        events: list[Event] = []
        stream = BitunixPublicStream(
            sim.ws_public_url,
            symbols=["BTCUSDT"],
            interval="1m",
            limiter=RateLimiter(50, 10),
            ping_interval_s=0.25,  # 4 a second per connection, under the venue's 5 messages a second
            silence_after_pings=4,
            backoff=FAST_BACKOFF,
            on_event=events.append,
            max_connection_age_s=max_age_s,
            rotation_overlap_s=0.2,
        )
        stream.start()
        try:
            yield sim, stream, events
        finally:
            await stream.stop()


async def candles_until(stream: BitunixPublicStream, rotations: int) -> list[Candle]:
    """Closed candles as they come, until `rotations` rotations are done and two more candles followed (or
    200 candles, 10 s at this speed, went by without them)."""
    got: list[Candle] = []
    after = 0
    while after < 2 and len(got) < 200:
        got.append((await asyncio.wait_for(stream.get(), 5))[1])
        after += stream.stats.rotations >= rotations
    return got


def assert_the_venues_record(candles: list[Candle]) -> None:
    """Each candle equals the replayed file's, none missing, none twice."""
    file = bundled_candles()
    first = next(i for i, c in enumerate(file) if c.ts == candles[0].ts)
    assert candles == file[first : first + len(candles)]


async def test_s08_the_public_socket_rotates_before_the_cutoff_with_no_candle_lost_or_doubled(tmp_path: Path) -> None:
    async with public_stream(1.0, max_age_s=0.5) as (sim, stream, events):
        candles = await candles_until(stream, rotations=3)
    assert len(candles) >= 20
    assert_the_venues_record(candles)
    st = stream.stats
    assert st.rotations >= 3 and st.reconnects == 0 and st.connects == st.rotations + 1
    assert not [e for e in events if isinstance(e, Reconnected)]
    rotated = [e for e in events if isinstance(e, ConnectionRotated)]
    assert len(rotated) == st.rotations and {e.reason for e in rotated} == {"max connection age"}
    assert all(500 <= e.age_ms < 1000 for e in rotated)  # at the client's 0.5 s, before the venue's 1 s
    log = DaemonLog(tmp_path, level="info", fmt="json", run_id="s08")
    log(rotated[0])
    log.close()
    (line,) = [orjson.loads(x) for x in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert (line["event"], line["level"], line["reason"]) == ("ConnectionRotated", "info", "max connection age")
    assert sim.faults.counts.get("max_connection_age_s", 0) == 0  # the venue never had to cut one
    assert st.overlap_duplicates >= 1  # both connections got the same pushes: each was handed out once
    assert stream.assemblers["BTCUSDT"].discarded == 0  # no candle was held suspect of a gap


def beat_rotations(folder: RunFolder) -> int:
    beat = folder.path / "heartbeat.json"
    return int(orjson.loads(beat.read_bytes())["stream"]["rotations"]) if beat.exists() else 0


async def test_s08_a_live_paper_session_rotates_its_socket_with_no_gap_and_no_reconnect(tmp_path: Path) -> None:
    """`exchange.ws_max_connection_age_s` reaches the session's socket: it rotates under the venue's cutoff,
    the strategy sees every candle once, no gap is backfilled, and the heartbeat counts the rotations."""
    base = settings(*LIVE_SETTINGS, "exchange.ws_max_connection_age_s=0.5", "run.checkpoint_interval_s=5")
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        sim.faults.update({"max_connection_age_s": 3.0})  # far past the client's 0.5 s, even on a loaded machine
        folder = RunFolder.create(tmp_path / "runs", "s08")
        task, runner = await start_live(sim, base, folder)
        stream = runner.feed.ws  # type: ignore[attr-defined]
        give_up = asyncio.get_running_loop().time() + 10
        while stream.stats.rotations < 2 and asyncio.get_running_loop().time() < give_up:
            await advance_until(sim, runner, runner.core.candles + 1)
        await advance_until(sim, runner, runner.core.candles + 5)
        await eventually(lambda: beat_rotations(folder) >= 2, what="the heartbeat's rotations")
        runner.stop("test done")
        await asyncio.wait_for(task, 30)
    kinds = [orjson.loads(line)["event"] for line in folder.events.read_bytes().splitlines()]
    assert kinds.count("ConnectionRotated") >= 2
    assert "Reconnected" not in kinds and "GapDetected" not in kinds
    assert sim.faults.counts.get("max_connection_age_s", 0) == 0
    equity_ts = [int(line.split(",")[0]) for line in folder.equity.read_text().splitlines()[1:]]
    assert len(equity_ts) >= 10
    assert equity_ts == [c.ts for c in bundled_candles()[START : START + len(equity_ts)]]  # each candle once


async def test_s08_without_the_rotation_the_cutoff_drops_the_socket() -> None:
    """The switch bites: with the client's age limit off, the venue's cutoff is a drop and a reconnect."""
    async with public_stream(0.4, max_age_s=0) as (sim, stream, events):
        await eventually(lambda: stream.stats.reconnects >= 1, what="the reconnect after the cutoff")
    assert sim.faults.counts["max_connection_age_s"] >= 1
    assert stream.stats.rotations == 0
    dropped = [e for e in events if isinstance(e, Reconnected)]
    assert dropped and "ConnectionClosed" in dropped[0].reason


async def test_s08_a_shutdown_notice_rotates_the_socket_at_once() -> None:
    """The notice comes 0.6 s before a cut at 0.8 s: the client (no age limit of its own) rotates on it."""
    async with public_stream(0.8, max_age_s=0, notice_s=0.6) as (sim, stream, events):
        candles = await candles_until(stream, rotations=2)
    assert_the_venues_record(candles)
    st = stream.stats
    assert st.rotations >= 2 and st.reconnects == 0 and st.shutdown_notices >= 2
    assert st.overlap_duplicates >= 1
    assert sim.faults.counts["shutdown_notice_s"] >= 2 and sim.faults.counts.get("max_connection_age_s", 0) == 0
    rotated = [e for e in events if isinstance(e, ConnectionRotated)]
    assert {e.reason for e in rotated} == {"shutdown notice"} and all(e.age_ms < 800 for e in rotated)
    assert not [e for e in events if isinstance(e, Reconnected)]


async def test_s08_a_fill_pushed_while_both_private_sockets_are_live_is_received_once(sim: SimExchange) -> None:
    """The order is placed once the successor is logged in beside the old connection: its pushes reach
    both. The stream hands each out once, in the venue's order; a second order after the rotation marks the
    end (the successor got it after every copy of the first's)."""
    sim.faults.update({"max_connection_age_s": 3.0})
    sent: list[tuple[str, dict[str, Any]]] = []
    forward = sim.ledger.on_private
    assert forward is not None

    def spy(api_key: str, channel: str, data: dict[str, Any]) -> None:
        sent.append((channel, orjson.loads(orjson.dumps(data))))  # as the wire carries it
        forward(api_key, channel, data)

    sim.ledger.on_private = spy
    events: list[Event] = []
    private = BitunixPrivateStream(
        sim.ws_private_url,
        credentials=Credentials(KEY, SECRET),
        limiter=RateLimiter(50, 10),
        ping_interval_s=0.25,
        backoff=FAST_BACKOFF,
        on_event=events.append,
        max_connection_age_s=0.5,
        rotation_overlap_s=2.0,
    )

    def logged_in() -> int:
        return sum(c.private and c.api_key == KEY for c in sim.hub.conns)

    async with default_session() as http:
        rest = BitunixRest(
            sim.rest_url,
            session=http,
            limiter=RateLimiter(8, 4),
            credentials=Credentials(KEY, SECRET),
            retry=RetryPolicy(attempts=4, backoff=Backoff(initial_s=0.01, max_s=0.05, jitter=0)),
        )
        private.start()
        try:
            await eventually(lambda: logged_in() == 2, what="the successor logged in beside the old connection")
            await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.010", order_type="market", client_id="s08-1")
            await eventually(lambda: private.stats.rotations >= 1, what="the rotation")
            await rest.place_order(symbol="BTCUSDT", side="buy", qty="0.010", order_type="market", client_id="s08-2")
            received = [await asyncio.wait_for(private.get(), 5) for _ in sent]
        finally:
            await private.stop()
    order_pushes = [data for channel, data in sent if channel == "order"]
    assert {d["clientId"] for d in order_pushes} == {"s08-1", "s08-2"} and order_pushes[-1]["orderStatus"] == "FILLED"
    assert received == sent  # every push once, in the venue's order
    assert private._queue.empty()  # and nothing after
    st = private.stats
    assert st.overlap_duplicates >= 1  # the first order's pushes did reach both connections
    assert st.reconnects == 0 and not [e for e in events if isinstance(e, Reconnected)]
    assert sim.faults.counts.get("max_connection_age_s", 0) == 0


async def test_s08_a_rotation_cancelled_as_its_successor_opens_closes_the_successor() -> None:
    """A stop (the session's tasks cancelled) that lands as the successor's handshake completes: before, the
    successor was not yet the rotation's own, so nothing closed it and its socket stayed open on the venue."""

    async def stream(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(stream, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        old = await connect(url)
        opened: list[ClientConnection] = []
        rotation: asyncio.Task[Any] | None = None

        class Host:
            silence_s = 5.0
            rotation_overlap_s = 5.0

            async def open_successor(self) -> ClientConnection | None:
                successor = await connect(url)
                opened.append(successor)
                assert rotation is not None
                rotation.cancel()  # the stop arrives as the handshake completes
                return successor

            async def take_frame(self, raw: Any) -> bool:
                return True

        rotation = asyncio.ensure_future(hand_over(Host(), old, lambda: None))
        with suppress(asyncio.CancelledError):
            await rotation
        assert rotation.cancelled() and len(opened) == 1
        await asyncio.wait_for(opened[0].wait_closed(), 2.0)  # before: open until the test ended
        assert old.state.name == "OPEN"  # the connection in use is the caller's to close
        await old.close()
