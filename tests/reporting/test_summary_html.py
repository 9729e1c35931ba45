"""summary.html is self-contained (opens offline) and shows charts, statistics, trades and events."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from laptop_agents.backtest.driver import run_backtest
from laptop_agents.core.clock import LiveClock
from laptop_agents.feeds.sources import open_source
from laptop_agents.runs.run_folder import RunFolder
from tests.helpers import settings
from tests.reporting.test_report_numbers import embedded


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_summary_is_self_contained_with_charts(tmp_path: Path, bundled_csv: Path) -> None:
    s = settings(f'data.source="csv:{bundled_csv}"', "circuit_breaker.enabled=false")
    folder = RunFolder.create(tmp_path, "r")
    result = run_backtest(s, source=open_source(s.data, seed=1), folder=folder, wall_clock=LiveClock())
    html = folder.summary.read_text()
    parser = _Collector()
    parser.feed(html)
    tags = [t for t, _ in parser.tags]
    assert "link" not in tags and "img" not in tags and "iframe" not in tags  # nothing fetched
    assert all("src" not in attrs for t, attrs in parser.tags if t == "script")  # inline scripts only
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert not re.search(r"\b(fetch|XMLHttpRequest|WebSocket|EventSource)\b", html)
    data = embedded(html)
    assert len(data["equity"]) > 100 and len(data["prices"]) == len(data["equity"])
    assert len(data["trades"]) == min(result.summary.trades, 500)
    assert len(data["windows"]) == min(result.summary.trades, 500)
    ids = [a["data-trade"] for t, a in parser.tags if t == "tr" and "data-trade" in a]
    assert len(ids) == min(result.summary.trades, 500)  # every row opens its trade in the pane
    for chart in ("equity-chart", "drawdown-chart", "price-chart", "trade-chart"):
        assert f'id="{chart}"' in html
    for label in (
        "Net PnL",
        "Return",
        "Trades",
        "Win rate",
        "Profit factor",
        "Max drawdown",
        "Sharpe",
        "Fees",
        "Exposure",
        "Sortino",
        "Expectancy",
        "Longest under water",
        "By month",
        "By exit reason",
        "By setup",
        "Long vs short",
        "Latest events",
        "Circuit breaker",
    ):
        assert label in html
    assert len(html) < 2_000_000  # bounded, however long the data


def test_failed_run_banner_and_no_trades_message(tmp_path: Path) -> None:
    s = settings('data.source="mock"', "data.mock_candles=20")
    folder = RunFolder.create(tmp_path, "r")
    run_backtest(s, source=open_source(s.data, seed=1), folder=folder, wall_clock=LiveClock())
    html = folder.summary.read_text()
    assert "No trades." in html and "This run failed" not in html
