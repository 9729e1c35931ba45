"""Log lines go to stderr as JSON off a terminal, carry the injected clock's time, and never a secret."""

from __future__ import annotations

import orjson
import pytest
import structlog

from laptop_agents.core.clock import SimClock
from laptop_agents.daemon.logging import configure_logging


def test_json_lines_with_clock_time_and_secrets_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info", fmt="json", clock=SimClock(1_640_995_200_000))
    log = structlog.get_logger("t")
    log.info("placing", api_key="AKIA-123", api_secret="s3cr3t", signature="abc", qty=1.5)
    log.debug("hidden below the level")
    line = capsys.readouterr().err.strip()
    assert "\n" not in line
    record = orjson.loads(line)
    assert record["event"] == "placing" and record["qty"] == 1.5
    assert record["ts"] == "2022-01-01T00:00:00.000+00:00"
    assert record["api_key"] == record["api_secret"] == record["signature"] == "***"
    assert "AKIA-123" not in line and "s3cr3t" not in line
    structlog.reset_defaults()
