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
    assert "script" not in tags and "link" not in tags and "img" not in tags  # nothing fetched
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert tags.count("svg") == 4  # equity, drawdown, price, recent candles
    assert tags.count("polyline") >= 2 and tags.count("rect") > 100
    markers = [a for t, a in parser.tags if t in ("path", "circle") and a.get("class") == "mk"]
    assert len(markers) >= 2 * min(result.summary.trades, 500) * 0.9
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
        "Recent events",
        "Circuit breaker",
    ):
        assert label in html
    assert html.count("<tr>") > min(result.summary.trades, 500)
    assert len(html) < 2_000_000  # bounded, however long the data


def test_failed_run_banner_and_no_trades_message(tmp_path: Path) -> None:
    s = settings('data.source="mock"', "data.mock_candles=20")
    folder = RunFolder.create(tmp_path, "r")
    run_backtest(s, source=open_source(s.data, seed=1), folder=folder, wall_clock=LiveClock())
    html = folder.summary.read_text()
    assert "No trades." in html and "This run failed" not in html
