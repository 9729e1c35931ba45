"""summary.html in a real headless browser at 700 and 1,400 px: every chart drawn, labels readable at both
widths, no console error, no network request, a trade opened in the pane from its row, a drag that zooms.

Screenshots are kept as `.artifacts/report-<width>.png` (docs/img/report.png is one of them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.core.clock import LiveClock
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.run_folder import RunFolder
from tests.browser import needs_browser, start_chrome
from tests.conftest import BUNDLED, REPO
from tests.helpers import settings

pytestmark = [pytest.mark.slow, needs_browser]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    s = settings(f'data.source="csv:{BUNDLED}"', "circuit_breaker.reset_after_bars=720")
    folder = RunFolder.create(tmp_path_factory.mktemp("report"), "shown")
    run_backtest(s, source=open_source(s.data, seed=1), folder=folder, wall_clock=LiveClock())
    return folder.summary


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = start_chrome(tmp_path / "chromium", logs=True)
    try:
        yield driver
    finally:
        driver.quit()


def _requests(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = orjson.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.parametrize("width", [700, 1400])
def test_the_report_draws_its_charts_offline_and_readable(report: Path, browser: Any, width: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(width, 1400)
    _requests(browser)  # drain what the browser's own start page asked for
    browser.get(report.as_uri())
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return document.documentElement.dataset.charts"))
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == [], errors
    requests = _requests(browser)
    assert report.as_uri() in requests
    assert [u for u in requests if u.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp")] == []
    for chart in ("equity-chart", "drawdown-chart", "price-chart", "trade-chart"):
        box = browser.execute_script(
            "const s = document.querySelector('#' + arguments[0] + ' svg');"
            "return s ? [s.getBoundingClientRect().width, s.querySelectorAll('path').length] : null;",
            chart,
        )
        assert box is not None, chart
        assert box[1] >= 1, chart
        assert box[0] > width * 0.75, (chart, box)  # the chart fills the page's width
    # every label is drawn at 11-13 px whatever the window's width (the SVG is not scaled)
    sizes = browser.execute_script(
        "return Array.from(document.querySelectorAll('.chart svg text'))"
        ".map((t) => t.getBoundingClientRect().height).filter((h) => h > 0);"
    )
    assert sizes and min(sizes) >= 11 and max(sizes) <= 18, (min(sizes), max(sizes))
    markers = browser.execute_script("return document.querySelectorAll('#price-chart g.trade').length;")
    assert markers >= 20  # trades spread over the month, each a joined entry → exit
    # the oldest trade's row opens it in the trade pane
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-trade]")
    oldest = rows[-1]
    trade_id = oldest.get_attribute("data-trade")
    browser.execute_script("arguments[0].click();", oldest)
    caption = browser.find_element(By.ID, "trade-caption").text
    assert caption.startswith(f"#{trade_id} "), caption
    assert browser.execute_script("return document.querySelectorAll('#trade-chart rect.body').length;") > 10
    # a drag across the price chart zooms all three charts
    chart = browser.find_element(By.CSS_SELECTOR, "#price-chart svg")
    ActionChains(browser).move_to_element_with_offset(chart, -width // 8, 0).click_and_hold().move_by_offset(
        width // 6, 0
    ).release().perform()
    span = browser.find_element(By.ID, "span").text
    assert span != "whole run" and "→" in span, span
    artifacts = REPO / ".artifacts"
    artifacts.mkdir(exist_ok=True)
    browser.find_element(By.ID, "zoom-reset").click()
    browser.set_window_size(width, 2400)
    browser.execute_script("window.scrollTo(0, 0);")
    browser.save_screenshot(str(artifacts / f"report-{width}.png"))


def test_the_validate_report_draws_its_three_charts(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    from laptop_agents.cli import main

    runs = tmp_path / "runs"
    code = main(["run", "--mode", "validate", "--run-id", "va", "--source", f"csv:{BUNDLED}", "--grid",
                 "fast_sma=5,10;slow_sma=30,50", "--train", "9000", "--test", "9000", "--jobs", "1",
                 "--set", f"run.runs_dir={runs}"])  # fmt: skip
    assert code == 0
    browser.set_window_size(1000, 1400)
    _requests(browser)
    browser.get((runs / "va" / "summary.html").as_uri())
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return document.documentElement.dataset.charts"))
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
    assert [u for u in _requests(browser) if u.split(":", 1)[0] in ("http", "https", "ws", "wss")] == []
    folds = len(orjson.loads((runs / "va" / "validation.json").read_bytes())["folds"])
    counts = browser.execute_script(
        "return [document.querySelectorAll('#oos-chart path.eq').length,"
        " document.querySelectorAll('#is-oos-chart circle.dot').length,"
        " document.querySelectorAll('#heat-chart rect.cell').length];"
    )
    assert counts == [folds, 4, 4], counts
    (REPO / ".artifacts").mkdir(exist_ok=True)
    browser.save_screenshot(str(REPO / ".artifacts" / "validate-1000.png"))
