"""Headless Chromium through chromedriver (Debian's `chromium` and `chromium-driver`), driven by Selenium,
for the tests that look at a page as a user would. The CI installs both and sets REQUIRE_BROWSER_TESTS, so a
missing browser fails there instead of skipping."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()

needs_browser = pytest.mark.skipif(
    not HAVE_BROWSER and not os.environ.get("REQUIRE_BROWSER_TESTS"),
    reason="needs chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


def start_chrome(profile: Path, *, width: int = 1280, height: int = 1800, logs: bool = False) -> Any:
    """A headless Chromium; with `logs`, its console and network events can be read (`get_log`)."""
    if not HAVE_BROWSER:
        pytest.fail("REQUIRE_BROWSER_TESTS is set but chromium or chromedriver is missing")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    if logs:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver
