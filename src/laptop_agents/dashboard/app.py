"""The dashboard's web application (aiohttp): the runs index, each run's page, its `summary.html`, the JSON
API behind them (docs/DASHBOARD.md), Server-Sent Events and the kill switch's buttons.

The same application is served by the daemon for its own run (its state read from memory, `live`) and by
`la dashboard` for any runs folder. Every asset comes from the package (`static/`); pages hold no data:
their script fetches it as JSON and writes it with `textContent`, so nothing a strategy or the exchange
said can become markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from laptop_agents.daemon.kill_switch import clear_kill, operator_name, set_kill
from laptop_agents.dashboard.run_view import Appended, LiveHeartbeat, RunView, whole_lines
from laptop_agents.dashboard.security import Guard, secure_headers
from laptop_agents.runs.run_ref import is_run_folder, latest_run

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
SSE_POLL_S = 0.25
MAX_VIEWS = 64
SSE_KEEPALIVE_S = 15.0
STATIC = resources.files("laptop_agents.dashboard") / "static"
Metrics = Callable[[], tuple[bytes, str]]
"""The Prometheus exposition now: its body and content type."""


@dataclass
class Dashboard:
    runs_dir: Path
    guard: Guard
    own_run: str | None = None
    """The serving daemon's run (the API's default run, its state read from `live`)."""
    live: LiveHeartbeat | None = None
    metrics: Metrics | None = None
    flush: Callable[[], None] | None = None
    """The daemon's own run: write out its buffered equity and trade rows before they are read."""
    _views: dict[str, RunView] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def view(self, run_id: str | None) -> RunView:
        """The run the request names (`?run=`), else the daemon's own, else the latest; 404 otherwise."""
        if run_id is None:
            run_id = self.own_run
        if run_id is None or run_id == "latest":
            latest = latest_run(self.runs_dir)
            newest = self.run_ids()
            if latest is None and not newest:
                raise web.HTTPNotFound(text="no runs yet\n")
            run_id = latest.name if latest is not None else newest[0]
        if not RUN_ID.match(run_id) or run_id == "latest":
            raise web.HTTPNotFound(text="no such run\n")
        path = self.runs_dir / run_id
        if not is_run_folder(path):
            self._views.pop(run_id, None)
            raise web.HTTPNotFound(text=f"no run {run_id}\n")
        view = self._views.get(run_id)
        if view is None:
            if len(self._views) >= MAX_VIEWS:  # what a run's view caches is read again when next asked for
                self._views = {k: v for k, v in self._views.items() if k == self.own_run}
            view = RunView(path, live=self.live if run_id == self.own_run else None)
            self._views[run_id] = view
        return view

    def run_ids(self) -> list[str]:
        try:
            entries = sorted((p for p in self.runs_dir.iterdir() if p.name != "latest"), reverse=True)
        except OSError:
            return []
        return [p.name for p in entries if RUN_ID.match(p.name) and not p.is_symlink() and is_run_folder(p)]


BOARD = web.AppKey("dashboard", Dashboard)


def build_app(dashboard: Dashboard) -> web.Application:
    app = web.Application(middlewares=[dashboard.guard.middleware])
    app[BOARD] = dashboard
    app.add_routes(
        [
            web.get("/", _index),
            web.get("/runs/{run}", _run_page),
            web.get("/runs/{run}/summary.html", _summary),
            web.get("/static/{name}", _static),
            web.get("/api/runs", _api_runs),
            web.get("/api/status", _api(lambda v, r: v.status())),
            web.get("/api/positions", _api(lambda v, r: v.positions())),
            web.get("/api/orders", _api(lambda v, r: v.orders())),
            web.get("/api/trades", _api(lambda v, r: v.trades(_int(r, "last", 100, 10_000)))),
            web.get("/api/equity", _api(lambda v, r: v.equity(_int(r, "points", 800, 5_000)))),
            web.get("/api/log", _api(lambda v, r: v.log(_int(r, "last", 60, 1_000)))),
            web.get("/api/recent", _api(lambda v, r: v.events(_int(r, "last", 100, 1_000), _wanted(r)))),
            web.get("/api/events", _sse),
            web.post("/api/kill", _kill),
            web.post("/api/resume", _resume),
        ]
    )
    if dashboard.metrics is not None:
        app.router.add_get("/metrics", _metrics)
    return app


def _dashboard(request: web.Request) -> Dashboard:
    return request.app[BOARD]


def _int(request: web.Request, name: str, default: int, most: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not 0 < int(text) <= most:
        raise web.HTTPBadRequest(text=f"{name}: a whole number from 1 to {most}\n")
    return int(text)


def _types(request: web.Request, name: str = "types") -> frozenset[str] | None:
    text = request.query.get(name, "").strip()
    return frozenset(t.strip() for t in text.split(",") if t.strip()) or None


def _wanted(request: web.Request) -> Callable[[dict[str, Any]], bool]:
    """`types=A,B` keeps only those event types; `skip=C,D` leaves those out (a page hides the candles)."""
    types, skip = _types(request), _types(request, "skip") or frozenset()
    return lambda record: (types is None or record.get("event") in types) and record.get("event") not in skip


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status=status, content_type="application/json"
    )


def _api(read: Callable[[RunView, web.Request], object]) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        board = _dashboard(request)
        view = board.view(request.query.get("run"))
        if view.live is not None:  # the daemon's own run: its state from memory, on the loop that owns it
            if board.flush is not None:
                board.flush()  # its buffered rows: the page shows the trade that just closed
            return _json(read(view, request))
        return _json(await off_loop(view, lambda: read(view, request)))

    return handler


async def off_loop(view: RunView, read: Callable[[], object]) -> object:
    """Another run's files are read on a worker thread (one reader per run at a time): a daemon serving
    its dashboard never waits on the disk in its own event loop."""

    def locked() -> object:
        with view.lock:
            return read()

    return await asyncio.to_thread(locked)


async def _api_runs(request: web.Request) -> web.Response:
    board = _dashboard(request)
    rows = []
    for run_id in board.run_ids():
        try:
            view = board.view(run_id)
        except web.HTTPNotFound:
            continue
        rows.append(view.summary() if view.live is not None else await off_loop(view, view.summary))
    return _json({"runs": rows, "own_run": board.own_run})


def _page(name: str, **values: str) -> web.Response:
    text = (STATIC / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return web.Response(text=text, content_type="text/html")


async def _index(request: web.Request) -> web.Response:
    return _page("index.html", csrf=_dashboard(request).guard.csrf)


async def _run_page(request: web.Request) -> web.Response:
    view = _dashboard(request).view(request.match_info["run"])
    return _page("run.html", csrf=_dashboard(request).guard.csrf, run=view.run_id)


async def _summary(request: web.Request) -> web.StreamResponse:
    view = _dashboard(request).view(request.match_info["run"])
    path = view.path / "summary.html"
    if not path.is_file():
        raise web.HTTPNotFound(text="this run has no summary.html yet (it is written when the run ends)\n")
    return web.Response(body=path.read_bytes(), content_type="text/html")


STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    kind = STATIC_TYPES.get(Path(name).suffix)
    if kind is None or not re.fullmatch(r"[a-z0-9_-]+\.[a-z]+", name) or not (STATIC / name).is_file():
        raise web.HTTPNotFound()
    reply = web.Response(body=(STATIC / name).read_bytes(), content_type=kind)
    reply.headers["Cache-Control"] = "max-age=300"
    return reply


async def _metrics(request: web.Request) -> web.Response:
    metrics = _dashboard(request).metrics
    assert metrics is not None
    body, kind = metrics()
    reply = web.Response(body=body)
    reply.headers["Content-Type"] = kind
    return reply


async def _control_body(request: web.Request) -> dict[str, Any]:
    if request.content_length and request.content_length > 4096:
        raise web.HTTPRequestEntityTooLarge(max_size=4096, actual_size=request.content_length)
    raw = await request.read()
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise web.HTTPBadRequest(text='the body must be JSON, e.g. {"flatten": true}\n') from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object\n")
    return body


def _who(request: web.Request) -> str:
    return f"dashboard {request.remote or '?'} ({operator_name()})"


async def _kill(request: web.Request) -> web.Response:
    """The kill switch: entries halted (`flatten`: positions closed too); the daemon applies it within
    its poll (KILL_POLL_S) and its heartbeat then shows `halted`."""
    view = _dashboard(request).view(request.query.get("run"))
    body = await _control_body(request)
    flatten = body.get("flatten", False)
    if not isinstance(flatten, bool):
        raise web.HTTPBadRequest(text="flatten: true or false\n")
    set_kill(view.path, flatten=flatten, by=_who(request), source="dashboard")
    return _json({"run_id": view.run_id, "kill_switch": "set", "flatten": flatten}, status=202)


async def _resume(request: web.Request) -> web.Response:
    view = _dashboard(request).view(request.query.get("run"))
    await _control_body(request)
    lifted = clear_kill(view.path, by=_who(request), source="dashboard")
    return _json({"run_id": view.run_id, "kill_switch": "lifted" if lifted else "not set"}, status=202)


async def _sse(request: web.Request) -> web.StreamResponse:
    """`events.jsonl` as it grows, one SSE message per event (`id` = its seq), after the last 50 (or those
    after `Last-Event-ID`); `types=Fill,PositionOpened` keeps only those, `skip=CandleClosed` leaves some out."""
    board = _dashboard(request)
    view = board.view(request.query.get("run"))
    wanted = _wanted(request)
    last_id = request.headers.get("Last-Event-ID", "")
    after = int(last_id) if last_id.isdigit() else None
    reply = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    secure_headers(reply)
    await reply.prepare(request)
    path = view.path / "events.jsonl"
    offset = _whole_lines_end(path)
    backlog_end = offset if path.exists() else None  # a finished backtest's gzipped log: all of it
    for record in view.events(50, wanted, end=backlog_end):  # the backlog ends where the stream begins
        if after is None or int(record.get("seq", 0)) > after:
            await reply.write(_message(record))
    quiet = 0.0
    source = Appended.after(path, offset)
    while not board.stopping.is_set() and request.transport is not None and not request.transport.is_closing():
        restarted, complete = source.read()
        if not restarted:  # cut back (a resume) or replaced: go on from its end, not its start again
            for line in whole_lines(complete, at_start=True):
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if wanted(record):
                    await reply.write(_message(record))
                    quiet = 0.0
        quiet += SSE_POLL_S
        if quiet >= SSE_KEEPALIVE_S:
            await reply.write(b": keep-alive\n\n")
            quiet = 0.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(board.stopping.wait(), SSE_POLL_S)
    return reply


def _whole_lines_end(path: Path) -> int:
    """Where the file's last whole line ends (a line being written is the stream's, not the backlog's)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            start = max(0, size - (1 << 16))
            handle.seek(start)
            tail = handle.read(size - start)
    except OSError:
        return 0
    cut = tail.rfind(b"\n")
    return start + cut + 1 if cut >= 0 else start


def _message(record: dict[str, Any]) -> bytes:
    """One SSE message: `id` its seq (a reconnecting client sends it back), `data` the event's record (its
    type is the record's `event`: one stream, so a page's `onmessage` sees them all)."""
    return b"id: %d\ndata: %s\n\n" % (int(record.get("seq", 0)), orjson.dumps(record))
