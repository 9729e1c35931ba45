"""Shared fixtures. Tests never reach the network; files go to pytest's tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "ftx_btc-perp_1m_2022-01.csv"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's LA_* variables must not change what a test sees."""
    for name in list(os.environ):
        if name.startswith("LA_"):
            monkeypatch.delenv(name)


@pytest.fixture
def bundled_csv() -> Path:
    assert BUNDLED.is_file(), f"bundled data missing: {BUNDLED}"
    return BUNDLED


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Each phase's report on the test item (`rep_call`): a fixture's teardown can tell a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
