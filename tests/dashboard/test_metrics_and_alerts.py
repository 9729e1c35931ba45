"""/metrics scraped during a live-paper session (the counters move as it trades; promtool passes), and its
alerts delivered to a loopback JSON webhook; delivery that fails (500, timeout) is counted, never fatal."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from aiohttp import ClientSession

from laptop_agents.config.models import AlertsConfig
from laptop_agents.core.events import GapUnfilled
from laptop_agents.core.inputs import HaltChanged
from laptop_agents.daemon.market_data_task import HALT_HOLE
from laptop_agents.exchange.bitunix.sim.server import SimExchange
from laptop_agents.monitor.alerts import Alert, AlertRules, Pager
from laptop_agents.monitor.delivery import Delivery, expand_urls
from laptop_agents.monitor.service import build
from laptop_agents.runs.run_folder import RunFolder
from tests.daemon.live_helpers import start_live
from tests.dashboard.receiver import Receiver
from tests.exchange.conftest import bundled_candles, eventually, sim_config
from tests.helpers import MINUTE, T0, read_events, settings


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one series in a Prometheus text exposition."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in exposition.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, rest = series.partition("{")
        got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric == name and got == want:
            return float(value)
    raise AssertionError(f"no {name}{{{want}}} in the exposition")


def promtool_check(exposition: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        assert not os.environ.get("REQUIRE_BROWSER_TESTS"), "the CI installs promtool (Debian's prometheus)"
        return  # a developer's machine may not have it
    proc = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


async def test_metrics_move_as_the_session_trades_and_its_alerts_reach_the_webhook(tmp_path: Path) -> None:
    async with (
        Receiver() as hook,
        Receiver(status=500) as broken,
        SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim,
    ):
        s = settings(
            "circuit_breaker.enabled=false",
            "run.heartbeat_interval_s=0.2",
            "data.stale_after_intervals=1000",
            "dashboard.enabled=true",
            "dashboard.port=0",
            f"alerts.urls={hook.url},{broken.url}",
        )
        folder = RunFolder.create(tmp_path / "runs", "live")
        task, runner = await start_live(sim, s, folder, watch=build)
        await eventually(lambda: "monitor" in runner.heartbeat() and runner.heartbeat()["monitor"].get("metrics"))
        url = runner.heartbeat()["monitor"]["metrics"]
        async with ClientSession() as http:

            async def scrape() -> str:
                async with http.get(url) as reply:
                    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain; version=")
                    return await reply.text()

            async def advance(candles: int) -> None:
                target = runner.core.candles + candles
                while runner.core.candles < target:
                    await sim.hub.advance(sim.market.k)
                    await asyncio.sleep(0.002)

            await advance(20)
            first = await scrape()
            fills_before = sum(int(e["event"] == "Fill") for e in read_events(folder.path))
            await advance(240)
            await eventually(lambda: any(e["event"] == "Fill" for e in read_events(folder.path)[-400:]), within_s=10)
            second = await scrape()
            runner.stop("test done")
            result = await asyncio.wait_for(task, 30)
        events = read_events(folder.path)
        fills = sum(int(e["event"] == "Fill") for e in events)
    assert result.error is None and events[-1]["event"] == "RunFinished" and events[-1]["status"] == "stopped"
    undelivered = [e for e in events if e["event"] == "Error" and e["where"] == "alerts"]
    assert undelivered and not any(e["fatal"] for e in undelivered)  # a broken receiver is logged, not fatal
    assert fills > fills_before
    for text in (first, second):
        promtool_check(text)
    assert (
        sample(second, "la_candles_total", symbol="BTCUSDT", source="stream")
        >= sample(first, "la_candles_total", symbol="BTCUSDT", source="stream") + 240
    )
    assert sample(second, "la_fills_total", symbol="BTCUSDT", liquidity="taker") >= fills - fills_before > 0
    assert sample(second, "la_decision_latency_seconds_count", symbol="BTCUSDT") >= 240
    assert sample(second, "la_session_state", state="running") == 1.0
    assert 0 <= sample(second, "la_heartbeat_age_seconds") < 5 and sample(second, "la_equity") > 0
    for name in ("la_event_loop_lag_seconds", "la_checkpoint_age_seconds", "la_drawdown_ratio"):
        assert sample(second, name) >= 0
    assert re.search(r"^la_data_age_seconds\{symbol=\"BTCUSDT\"\} ", second, re.M)
    titles = hook.titles()
    assert titles[0] == "session started: live" and titles[-1] == "session stopped: live", titles
    assert sum(t.startswith(("BTCUSDT: buy", "BTCUSDT: sell")) for t in titles) == fills


def test_a_condition_pages_once_per_window_and_its_recovery_closes_it() -> None:
    now = [0.0]
    sent: list[Alert] = []
    config = AlertsConfig(window_s=600, max_per_hour=5)
    pager = Pager(config, sent.append, monotonic=lambda: now[0])
    rules = AlertRules(config, pager, run_id="r", equity=lambda: 1.0, monotonic=lambda: now[0], wall_ms=lambda: 0)
    from laptop_agents.core.events import DataStale

    stale = DataStale(ts=0, symbol="BTCUSDT", age_ms=200_000, threshold_ms=180_000, cleared=False)
    for _ in range(3):
        rules.on_event(stale)
        now[0] += 60
    assert [a.title for a in sent] == ["BTCUSDT: market data stale"] and pager.deduplicated == 2
    rules.on_event(DataStale(ts=0, symbol="BTCUSDT", age_ms=0, threshold_ms=180_000, cleared=True))
    assert sent[-1].recovered and sent[-1].title == "BTCUSDT: data fresh again"
    rules.on_event(stale)  # a new episode pages again at once
    assert len(sent) == 3
    for i in range(10):
        pager(Alert(f"x{i}", "t", "b"))
    assert len(sent) == 5 and pager.suppressed == 8  # at most max_per_hour an hour
    now[0] += 3600
    pager(Alert("later", "t", "b"))
    assert len(sent) == 6


def test_an_order_unknown_too_long_and_a_reconnect_storm_page() -> None:
    from laptop_agents.core.events import OrderState, Reconnected

    now = [0.0]
    sent: list[Alert] = []
    config = AlertsConfig(unknown_order_after_s=60, reconnect_storm=3, window_s=300)
    rules = AlertRules(
        config,
        Pager(config, sent.append, monotonic=lambda: now[0]),
        run_id="r",
        equity=lambda: 1.0,
        monotonic=lambda: now[0],
        wall_ms=lambda: 0,
    )
    rules.on_event(OrderState(ts=0, symbol="BTCUSDT", client_order_id="la1", state="UNKNOWN", order_id=None, detail=""))
    now[0] = 30
    rules.tick()
    assert sent == []
    now[0] = 61
    rules.tick()
    assert sent[-1].title == "BTCUSDT: order la1 UNKNOWN for 61 s" and sent[-1].level == "failure"
    rules.on_event(OrderState(ts=0, symbol="BTCUSDT", client_order_id="la1", state="FILLED", order_id="7", detail=""))
    assert sent[-1].recovered
    for _ in range(3):
        rules.on_event(Reconnected(ts=0, symbol="BTCUSDT", channel="public", attempt=1, downtime_ms=10, reason="reset"))
    assert sent[-1].title == "reconnect storm"
    now[0] += 400
    rules.tick()
    assert sent[-1].title == "reconnects calmed down"


@pytest.mark.parametrize(("status", "delay_s"), [(500, 0.0), (200, 3.0)], ids=["answers-500", "times-out"])
async def test_a_failing_receiver_is_counted_and_logged_never_blocking(status: int, delay_s: float) -> None:
    async with Receiver(status=status, delay_s=delay_s) as hook:
        failures: list[str] = []
        delivery = Delivery(AlertsConfig(timeout_s=1.0), [hook.url], on_failure=failures.append)
        began = time.monotonic()
        for i in range(3):
            delivery.put(Alert(f"k{i}", f"title {i}", "body"))
        assert time.monotonic() - began < 0.05  # the caller (the event loop) never waits for delivery
        await eventually(lambda: delivery.stats.failed == 3, within_s=15, what="three failed deliveries")
        await asyncio.to_thread(delivery.close)
    assert delivery.stats.sent == 0 and len(hook.received) == 3
    assert len(failures) == 3 and "not delivered" in failures[0]


def test_alert_urls_take_secrets_from_the_environment() -> None:
    assert expand_urls(["tgram://${BOT}/123"], {"BOT": "abc"}) == ["tgram://abc/123"]
    from laptop_agents.core.errors import InputError

    with pytest.raises(InputError, match=r"alerts.urls\[0\]: \$\{BOT\} is not set"):
        expand_urls(["tgram://${BOT}/123"], {})
    with pytest.raises(InputError, match=r"alerts.urls\[0\]: Apprise does not understand"):
        Delivery(AlertsConfig(), ["nosuchscheme://x"], on_failure=lambda _: None)


def test_the_example_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool comes with Debian's prometheus package (the CI installs it)")
    rules = Path(__file__).parents[2] / "deploy" / "prometheus" / "alerts.yml"
    proc = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "SUCCESS: 6 rules found" in proc.stdout, proc.stdout + proc.stderr


def test_the_kill_switch_and_its_release_both_page_and_failures_pass_the_hourly_cap() -> None:
    from laptop_agents.core.events import CircuitBreakerTripped, KillSwitch, KillSwitchReleased

    sent: list[Alert] = []
    config = AlertsConfig(max_per_hour=2)
    pager = Pager(config, sent.append, monotonic=lambda: 0.0)
    rules = AlertRules(config, pager, run_id="r", equity=lambda: 1.0, monotonic=lambda: 0.0, wall_ms=lambda: 0)
    rules.on_event(KillSwitch(ts=0, symbol="BTCUSDT", source="dashboard", flatten=False))
    rules.on_event(KillSwitchReleased(ts=0, symbol="BTCUSDT", by="me", source="dashboard"))
    assert [a.title for a in sent] == ["kill switch: entries halted", "kill switch lifted"]
    pager(Alert("noise", "a warning over the cap", "b"))
    assert pager.suppressed == 1 and "noise" not in pager.open  # never sent: never "recovered" either
    rules.on_event(CircuitBreakerTripped(ts=0, symbol="BTCUSDT", reason="max_drawdown", max_drawdown_pct=10,
                                         drawdown_pct=11, max_consecutive_losses=5, consecutive_losses=1,
                                         equity=9_000, peak_equity=10_000))  # fmt: skip
    assert sent[-1].title == "BTCUSDT: circuit breaker TRIPPED"  # a failure goes whatever the cap


async def test_metrics_alone_get_their_own_port_refusing_a_foreign_host(tmp_path: Path) -> None:
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        s = settings("metrics.enabled=true", "metrics.port=0", "data.stale_after_intervals=1000")
        task, runner = await start_live(sim, s, RunFolder.create(tmp_path / "runs", "m"), watch=build)
        await eventually(lambda: runner.heartbeat().get("monitor", {}).get("metrics"))
        url = runner.heartbeat()["monitor"]["metrics"]
        assert "dashboard" not in runner.heartbeat()["monitor"]
        async with ClientSession() as http:
            async with http.get(url) as reply:
                assert reply.status == 200 and "la_candles_total" in await reply.text()
            async with http.get(url, headers={"Host": "evil.example"}) as reply:
                assert reply.status == 421
            async with http.get(url.removesuffix("/metrics") + "/api/status") as reply:
                assert reply.status == 404  # no dashboard on the metrics port
        runner.stop("test done")
        await asyncio.wait_for(task, 30)


def test_a_daily_summary_goes_out_when_the_utc_day_ends() -> None:
    from laptop_agents.core.events import PositionClosed

    wall = [1_640_995_200_000 + 23 * 3_600_000]  # 2022-01-01 23:00 UTC
    equity = [10_000.0]
    sent: list[Alert] = []
    config = AlertsConfig()
    rules = AlertRules(config, Pager(config, sent.append, monotonic=lambda: 0.0), run_id="r",
                       equity=lambda: equity[0], monotonic=lambda: 0.0, wall_ms=lambda: wall[0])  # fmt: skip
    for pnl in (120.0, -20.0):
        rules.on_event(PositionClosed(ts=0, symbol="BTCUSDT", trade_id=1, side="long", qty=1.0, entry_ts=0,
                                      entry_price=1.0, exit_price=1.0, pnl=pnl, fees=0.0, net_pnl=pnl, funding=0.0,
                                      exit_reason="target", setup="s"))  # fmt: skip
    equity[0] = 10_100.0
    rules.tick()
    assert sent == []
    wall[0] += 3_600_000  # midnight passed
    rules.tick()
    (summary,) = sent
    assert summary.title == "daily summary 2022-01-01 UTC: r"
    assert "10,000.00 → 10,100.00 (+100.00)" in summary.body and "2 trades, 1 won, net +100.00" in summary.body


async def test_a_session_asked_for_a_dashboard_without_its_watchers_is_refused(tmp_path: Path) -> None:
    from laptop_agents.core.errors import InputError

    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as sim:
        with pytest.raises(InputError, match=r"dashboard\.enabled, metrics\.enabled or alerts\.urls is set"):
            await start_live(sim, settings("dashboard.enabled=true"), RunFolder.create(tmp_path / "runs", "x"))


async def test_a_failing_watcher_never_raises_into_the_core(tmp_path: Path) -> None:
    from laptop_agents.core.events import Fill
    from laptop_agents.monitor.service import MonitorService

    def broken(_event: object) -> None:
        raise RuntimeError("a bug in a watcher")

    service = MonitorService(settings(), RunFolder.create(tmp_path / "runs", "w"))
    listener = service._guarded(broken, "metrics")
    fill = Fill(ts=0, symbol="BTCUSDT", fill_id="f", client_order_id="c", side="buy", qty=1.0, price=1.0, fee=0.0,
                liquidity="taker")  # fmt: skip
    listener(fill)  # the core's emit goes on: the failure is logged (once) as a non-fatal Error
    listener(fill)


def test_errors_that_need_the_operator_page_once_and_a_passing_rate_limit_does_not() -> None:
    """An IP ban (418), an unwritable journal or checkpoint, an overfill and refused signatures are
    non-fatal `Error`s (the session runs on, halted): before, only backfill failures and fatal errors paged."""
    from laptop_agents.core.events import Error

    sent: list[Alert] = []
    config = AlertsConfig()
    rules = AlertRules(config, Pager(config, sent.append, monotonic=lambda: 0.0), run_id="r", equity=lambda: 1.0,
                       monotonic=lambda: 0.0, wall_ms=lambda: 0)  # fmt: skip

    def error(where: str, message: str) -> None:
        rules.on_event(Error(ts=0, symbol="BTCUSDT", where=where, message=message, fatal=False))

    error("rate_limit", "bitunix: code 10006, retrying")  # waits itself out: no page
    error("rate_limit", "HTTP 418: banned for 120 s; no request is sent and entries are halted")
    error("rate_limit", "HTTP 418: banned for 120 s; no request is sent and entries are halted")  # once a window
    error("journal", "the order journal runs/x/orders.jsonl cannot be written (No space left on device)")
    error("overfill", "BTCUSDT order la-e-1: trade 7 of 0.03 would fill it to 0.06 of 0.03")
    assert [(a.title, a.level) for a in sent] == [
        ("BTCUSDT: banned by the exchange (HTTP 418): entries halted", "failure"),
        ("BTCUSDT: the order journal cannot be written: no order is sent", "failure"),
        ("BTCUSDT: the exchange filled an order past its size", "warning"),
    ]
    assert "No space left" in sent[1].body


def test_a_hole_in_the_venues_history_pages_and_leaving_it_behind_closes_it() -> None:
    """Before, a hole (`GapUnfilled`: entries halted for the strategy's lookback) paged nobody: the operator
    learnt of the halt only from the dashboard."""
    sent: list[Alert] = []
    config = AlertsConfig(window_s=600, max_per_hour=5)
    rules = AlertRules(config, Pager(config, sent.append, monotonic=lambda: 0.0), run_id="r", equity=lambda: 1.0,
                       monotonic=lambda: 0.0, wall_ms=lambda: 0)  # fmt: skip
    hole = GapUnfilled(ts=T0, symbol="BTCUSDT", from_ts=T0, to_ts=T0 + 2 * MINUTE, missing=3, halt_candles=31)
    rules.on_event(hole)
    rules.on_event(hole)  # the same hole said again within the window: once
    (paged,) = sent
    assert (paged.title, paged.level) == ("BTCUSDT: the exchange's history has a hole", "warning")
    assert "3 candles 2022-01-01 00:00 UTC to 2022-01-01 00:02 UTC are missing" in paged.body
    assert "31 candles past it" in paged.body
    rules.on_event(HaltChanged(ts=T0, symbol="BTCUSDT", key=HALT_HOLE, detail="a hole"))  # set: no page
    rules.on_event(HaltChanged(ts=T0, symbol="BTCUSDT", key="exchange_margin", detail=None))  # another halt's
    assert len(sent) == 1
    rules.on_event(HaltChanged(ts=T0, symbol="BTCUSDT", key=HALT_HOLE, detail=None))
    assert sent[-1].recovered and sent[-1].title == "BTCUSDT: past the hole in the history" and len(sent) == 2
    assert {GapUnfilled, HaltChanged} <= rules.event_types  # what the session's log hands the rules
