"""The dashboard in a real headless browser (Debian's chromium through chromedriver, driven by Selenium)
over a real live-paper daemon: the equity chart is drawn, a position appears, events arrive over SSE
without a reload, and the kill switch's button halts the daemon (its heartbeat says so).

Screenshots go to $DASHBOARD_SCREENSHOTS when set (docs/img/ holds the ones docs/DASHBOARD.md shows); on a
failure the page is kept as `.artifacts/<test>.png`. The CI installs the browser (and sets
REQUIRE_BROWSER_TESTS, so a missing one fails there instead of skipping)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.browser import needs_browser, start_chrome
from tests.conftest import REPO
from tests.daemon.test_daemon_process import clean_env, la_command, wait_for

pytestmark = [pytest.mark.slow, needs_browser]


def beat(run: Path) -> dict[str, Any]:
    return dict(orjson.loads((run / "heartbeat.json").read_bytes()))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A live-paper daemon with its dashboard on a free port; the trade near the start holds for a while."""
    proc = subprocess.Popen(
        [
            *la_command(),
            "run",
            "--mode",
            "live-paper",
            "--run-id",
            "shown",
            "--dashboard",
            "--duration",
            "300",
            "--set",
            "dashboard.port=0",
            "--set",
            "exchange.sim_speed=150",
            "--set",
            "exchange.sim_start_index=110",
            "--set",
            "circuit_breaker.enabled=false",
            "--set",
            "data.stale_after_intervals=1000",
            "--set",
            "run.heartbeat_interval_s=0.5",
            "--set",
            "strategy.stop_atr_mult=6",
            "--set",
            "strategy.tp_r=3",
        ],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = tmp_path / "runs" / "shown"
    try:
        wait_for(
            lambda: (run / "heartbeat.json").exists() and "dashboard" in (beat(run).get("monitor") or {}),
            30,
            "the dashboard's address in the heartbeat",
        )
        yield beat(run)["monitor"]["dashboard"], run
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    driver = start_chrome(tmp_path / "chromium")
    try:
        yield driver
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is None or report.failed:
            artifacts = REPO / ".artifacts"
            artifacts.mkdir(exist_ok=True)
            driver.save_screenshot(str(artifacts / f"{request.node.name}.png"))
        driver.quit()


def _screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("DASHBOARD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def _texts(driver: Any, css: str) -> list[str]:
    """The text of every element `css` matches, read in one go (the page redraws its tables as data arrives)."""
    texts: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map((e) => e.textContent);", css
    )
    return texts


def test_the_dashboard_shows_a_live_session_and_its_kill_switch_halts_it(
    daemon: tuple[str, Path], browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, run = daemon
    wait = WebDriverWait(browser, 60, poll_frequency=0.2)
    browser.get(url)
    wait.until(lambda d: _texts(d, "#state") == ["running"])
    chart = "const p = document.querySelector('#equity-chart path.equity'); return p ? p.getAttribute('d') : '';"
    wait.until(lambda d: len(d.execute_script(chart)) > 40)
    browser.execute_script("window.notReloaded = true;")
    seen = len(_texts(browser, "#events li"))
    wait.until(lambda d: len(_texts(d, "#events li")) > seen)  # a new event, over SSE
    wait.until(lambda d: _texts(d, "#positions tbody tr:first-child td")[:1] == ["BTCUSDT"])
    row = _texts(browser, "#positions tbody tr:first-child td")
    assert row[1] in ("long", "short") and row[4] and row[5], row  # the stop and the target are shown
    assert browser.execute_script("return window.notReloaded === true;")
    _screenshot(browser, "dashboard-run.png")
    browser.find_element(By.ID, "kill").click()
    wait_for(
        lambda: beat(run)["state"] == "halted" and (beat(run)["kill_switch"] or {}).get("source") == "dashboard",
        20,
        "the heartbeat to show the halt",
    )
    wait.until(lambda d: _texts(d, "#state") == ["halted"])
    wait.until(lambda d: "in force (dashboard" in _texts(d, "#kill-state")[0])
    assert browser.find_element(By.ID, "kill").get_attribute("disabled") == "true"
    wait.until(lambda d: any(t.startswith("KillSwitch") for t in _texts(d, "#events li")))
    browser.find_element(By.ID, "resume").click()
    wait_for(lambda: beat(run)["state"] == "running" and beat(run)["kill_switch"] is None, 20, "the resume")
    browser.set_window_size(1280, 260)
    browser.get(url.rsplit("/runs/", 1)[0] + "/")
    wait.until(lambda d: _texts(d, "#runs tbody tr td a")[:1] == ["shown"])
    _screenshot(browser, "dashboard-index.png")
