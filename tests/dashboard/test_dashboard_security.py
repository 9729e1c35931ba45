"""The dashboard's security list (reliability.md §6, dashboard scenario), each as a request on loopback."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from aiohttp import ClientSession, CookieJar

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.config.models import DashboardConfig
from laptop_agents.core.clock import LiveClock
from laptop_agents.core.errors import InputError
from laptop_agents.dashboard.security import CSP, REPORT_CSP, Guard, check_bind, dashboard_token
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.run_folder import RunFolder
from tests.dashboard.conftest import RUN_ID, Served, serve, write_run
from tests.helpers import settings


async def test_a_foreign_host_header_is_refused_as_dns_rebinding(served: Served) -> None:
    async with ClientSession() as http:
        for host in ("evil.example", f"evil.example:{served.port}", f"127.0.0.1:{served.port + 1}"):
            async with http.get(served.url + "/api/status", headers={"Host": host}) as reply:
                assert reply.status == 421, host
        for host in (f"127.0.0.1:{served.port}", f"localhost:{served.port}", "127.0.0.1"):
            async with http.get(served.url + "/api/status", headers={"Host": host}) as reply:
                assert reply.status == 200, host


async def test_a_configured_name_is_accepted_as_host(tmp_path: Path) -> None:
    write_run(tmp_path / "runs")
    board, runner = await serve(tmp_path / "runs", allowed=("trader.lan",))
    try:
        async with ClientSession() as http, http.get(board.url + "/", headers={"Host": "trader.lan"}) as reply:
            assert reply.status == 200
    finally:
        await runner.cleanup()


async def test_the_kill_switch_needs_post_a_csrf_token_and_a_same_origin(served: Served) -> None:
    folder = served.runs / RUN_ID
    origin = {"Origin": served.url}
    csrf = {"X-CSRF-Token": served.guard.csrf}
    kill = served.url + f"/api/kill?run={RUN_ID}"
    async with ClientSession() as http:
        async with http.get(kill) as reply:
            assert reply.status == 405  # a link or an <img> cannot press it
        async with http.post(kill, json={"flatten": False}, headers=origin) as reply:
            assert reply.status == 403 and "CSRF" in await reply.text()
        async with http.post(kill, json={"flatten": False}, headers={**csrf, "Origin": "http://evil.example"}) as reply:
            assert reply.status == 403 and "cross-origin" in await reply.text()
        async with http.post(kill, json={"flatten": False}, headers=csrf) as reply:
            assert reply.status == 403  # no Origin at all
        async with http.post(kill, json={"flatten": False}, headers={**csrf, "X-CSRF-Token": "guess"}) as reply:
            assert reply.status == 403
        assert not (folder / "KILL").exists()
        async with http.post(kill, json={"flatten": True}, headers={**csrf, **origin}) as reply:
            assert reply.status == 202
        order = orjson.loads((folder / "KILL").read_bytes())
        assert order["flatten"] is True and order["source"] == "dashboard"
        async with http.post(served.url + f"/api/resume?run={RUN_ID}", headers={**csrf, **origin}) as reply:
            assert reply.status == 202 and (await reply.json())["kill_switch"] == "lifted"
        assert not (folder / "KILL").exists()
        assert orjson.loads((folder / "RESUME").read_bytes())["source"] == "dashboard"


async def test_with_a_token_every_request_needs_it_compared_whole(tmp_path: Path) -> None:
    write_run(tmp_path / "runs")
    board, runner = await serve(tmp_path / "runs", token="s3cret-token-value")
    try:
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:  # unsafe: a cookie for an IP host
            async with http.get(board.url + "/api/status") as reply:
                assert reply.status == 401
            for wrong in ("s3cret-token-valu", "s3cret-token-value2", "S3CRET-TOKEN-VALUE", ""):
                async with http.get(board.url + "/api/status", headers={"Authorization": f"Bearer {wrong}"}) as reply:
                    assert reply.status == 401, wrong
            async with http.get(board.url + "/api/status", headers={"Authorization": "Bearer s3cret-token-value"}) as r:
                assert r.status == 200
            async with http.get(board.url + "/?token=wrong", allow_redirects=False) as reply:
                assert reply.status == 401
            async with http.get(board.url + "/?token=s3cret-token-value", allow_redirects=False) as reply:
                assert reply.status == 303 and reply.headers["Location"] == "/"  # the token leaves the URL
                assert "HttpOnly" in reply.headers["Set-Cookie"] and "SameSite=Strict" in reply.headers["Set-Cookie"]
                assert "s3cret-token-value" not in reply.headers["Set-Cookie"]  # a value derived from it
            async with http.get(board.url + "/api/status") as reply:  # the session cookie now
                assert reply.status == 200
            bad_bearer = {"Authorization": "Bearer junk", "Origin": "http://evil.example"}
            async with http.post(board.url + "/api/kill", headers=bad_bearer) as reply:  # the cookie, a junk bearer
                assert reply.status == 403  # a cookie's request is a browser's: it still needs origin and CSRF
            async with http.post(board.url + "/api/kill", headers={"Authorization": "Bearer s3cret-token-value"}) as r:
                assert r.status == 202  # a script with the bearer token needs no CSRF token (no browser sends it)
    finally:
        await runner.cleanup()


def test_a_non_loopback_bind_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"dashboard.host: 0.0.0.0 is not a loopback address.*LA_DASHBOARD__TOKEN"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "a-token")
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    (tmp_path / "runs").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LA_")}
    proc = subprocess.run(
        [sys.executable, "-m", "laptop_agents", "dashboard", str(tmp_path / "runs"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "is not a loopback address" in proc.stderr
    live = subprocess.run(
        [
            sys.executable,
            "-m",
            "laptop_agents",
            "run",
            "--mode",
            "live-paper",
            "--dashboard",
            "--set",
            "dashboard.host=0.0.0.0",
            "--set",
            f"run.runs_dir={tmp_path / 'live'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert live.returncode == 2 and "dashboard.host" in live.stderr, live.stderr
    assert not (tmp_path / "live").exists()  # refused before any run folder


def test_the_token_comes_from_the_environment_or_a_0600_file_never_a_config_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LA_")}
    proc = subprocess.run(
        [sys.executable, "-m", "laptop_agents", "run", "--print-config", "--set", "dashboard.token=hunter2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2 and "dashboard.token: set by --set" in proc.stderr and "hunter2" not in proc.stderr
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    secret.chmod(0o644)
    with pytest.raises(InputError, match=r"readable by others \(mode 0644\); chmod 600"):
        dashboard_token(DashboardConfig(token_file=str(secret)))
    secret.chmod(0o600)
    assert dashboard_token(DashboardConfig(token_file=str(secret))) == "from-a-file"


async def test_every_reply_carries_the_csp_and_the_report_its_own(served: Served) -> None:
    (served.runs / RUN_ID / "summary.html").write_text("<html><style>p{}</style><p>report</p></html>")
    async with ClientSession() as http:
        for path in ("/", f"/runs/{RUN_ID}", "/api/runs", "/static/dashboard.js", "/nowhere"):
            async with http.get(served.url + path) as reply:
                assert reply.headers["Content-Security-Policy"] == CSP, path
                assert reply.headers["X-Content-Type-Options"] == "nosniff"
                assert reply.headers["X-Frame-Options"] == "DENY"
        async with http.get(served.url + f"/runs/{RUN_ID}/summary.html") as reply:
            assert reply.status == 200 and reply.headers["Content-Security-Policy"] == REPORT_CSP
        write_run(served.runs.parent, "outside")  # a real run folder beside runs/, not in it
        for path in ("/runs/..%2Foutside", "/api/status?run=..%2Foutside", "/api/status?run=../outside",
                     "/static/..%2Fstatic%2Fdashboard.js", "/static/run.html"):  # fmt: skip
            async with http.get(served.url + path) as reply:
                assert reply.status == 404, path
        async with http.get(served.url + "/api/status?run=outside") as reply:
            assert reply.status == 404


def test_the_report_csp_lets_exactly_the_reports_own_scripts_run(tmp_path: Path) -> None:
    s = settings('data.source="mock"', "data.mock_candles=3000")
    folder = RunFolder.create(tmp_path, "r")
    run_backtest(s, source=open_source(s.data, seed=1), folder=folder, wall_clock=LiveClock())
    scripts = re.findall(r"<script>(.*?)</script>", folder.summary.read_text(), re.S)
    assert len(scripts) == 2  # charts.js and report.js; the data is type=application/json (not run)
    allowed = set(re.findall(r"'sha256-([^']+)'", REPORT_CSP))
    for body in scripts:
        assert base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() in allowed
    assert "unsafe-inline" not in REPORT_CSP.split("script-src", 1)[1].split(";", 1)[0]


async def test_what_a_strategy_or_the_exchange_said_is_never_markup(tmp_path: Path) -> None:
    attack = "<img src=x onerror=alert(1)>"
    write_run(tmp_path / "runs", strategy=attack)
    board, runner = await serve(tmp_path / "runs")
    try:
        async with ClientSession() as http:
            for path in ("/", f"/runs/{RUN_ID}"):
                async with http.get(board.url + path) as reply:
                    assert attack not in await reply.text() and reply.content_type == "text/html"
            async with http.get(board.url + "/api/runs") as reply:
                assert reply.content_type == "application/json"
                assert (await reply.json())["runs"][0]["strategy"] == attack  # data, written with textContent
        script = (Path(__file__).parents[2] / "src/laptop_agents/dashboard/static/dashboard.js").read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in script, sink  # text goes in with textContent and createTextNode only
    finally:
        await runner.cleanup()


def test_guard_host_rules() -> None:
    wildcard = Guard("0.0.0.0", 8765)
    assert wildcard.host_allowed("192.168.1.20:8765") and not wildcard.host_allowed("evil.example:8765")
    v6 = Guard("::1", 8765)
    assert v6.host_allowed("[::1]:8765") and v6.host_allowed("localhost:8765") and not v6.host_allowed("[::1]:1")
