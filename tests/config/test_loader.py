"""Config layers, precedence and error messages (in-process; the CLI tests cover the same end to end)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from laptop_agents.config.loader import load_settings, redacted_dump
from laptop_agents.config.models import Settings
from laptop_agents.core.errors import ConfigError
from tests.conftest import REPO

CONFIG = REPO / "config"


def test_default_json_holds_every_field_with_the_embedded_defaults() -> None:
    """config/default.json and the pydantic defaults must never drift apart."""
    on_disk = orjson.loads((CONFIG / "default.json").read_bytes())
    assert on_disk == Settings().model_dump(mode="json")


@pytest.mark.parametrize("profile", ["backtest", "paper", "live", "demo"])
def test_profiles_are_valid(profile: str) -> None:
    s = load_settings(profile=profile, environ={}, config_dir=CONFIG)
    modes = {"backtest": "backtest", "paper": "live-paper", "live": "live-exchange", "demo": "backtest"}
    assert s.run.mode == modes[profile]


def test_precedence_set_over_env_over_file_over_profile_over_default(tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_bytes(orjson.dumps({"risk": {"risk_pct": 0.9, "lot_step": 0.01}, "broker": {"maker_fee_bps": 1}}))
    s = load_settings(
        profile="live",
        config_file=str(cfg),
        sets=["risk.risk_pct=0.2"],
        config_dir=CONFIG,
        environ={"LA_RISK__LOT_STEP": "0.1", "LA_BROKER__SLIPPAGE_BPS": "3", "HOME": "/x"},
    )
    assert s.risk.risk_pct == 0.2  # --set
    assert s.risk.lot_step == 0.1  # env over file
    assert s.broker.maker_fee_bps == 1  # file
    assert s.risk.max_leverage == 3.0  # profile live
    assert s.broker.slippage_bps == 3  # env
    assert s.broker.taker_fee_bps == 6  # default


def test_one_line_per_error_with_field_value_source_and_range() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            sets=["risk.risk_pct=-1", "broker.taker_fee_bps=5000", "strategy.bogus=1"], environ={}, config_dir=CONFIG
        )
    lines = info.value.lines
    assert len(lines) == 3
    assert any(
        line.startswith("risk.risk_pct = -1 (from --set)") and "allowed: > 0 and <= 100" in line for line in lines
    )
    assert any(line.startswith("broker.taker_fee_bps = 5000") and "<= 1000" in line for line in lines)
    assert any(line.startswith("strategy.bogus: unknown config key") for line in lines)


def test_cross_field_rule_fast_below_slow() -> None:
    with pytest.raises(ConfigError, match=r"fast_sma \(30\) must be smaller than strategy.slow_sma \(30\)"):
        load_settings(sets=["strategy.fast_sma=30"], environ={}, config_dir=CONFIG)


def test_unknown_section_in_environment_is_an_error() -> None:
    with pytest.raises(ConfigError, match="riskk: unknown config key"):
        load_settings(environ={"LA_RISKK__RISK_PCT": "1"}, config_dir=CONFIG)


def test_an_la_variable_that_is_no_setting_is_an_error_naming_it() -> None:
    """Issue 14, item 14: `LA_NOSUCH=1` was silently ignored, although unknown keys are errors."""
    with pytest.raises(ConfigError, match="environment LA_NOSUCH: not a setting; write it as LA_SECTION__KEY"):
        load_settings(environ={"LA_NOSUCH": "1"}, config_dir=CONFIG)
    load_settings(environ={"LA_CONFIG_DIR": str(CONFIG), "LA_CRASH_AT": ""}, config_dir=CONFIG)  # not settings


def test_environment_values_are_parsed_as_json_when_possible() -> None:
    s = load_settings(
        environ={"LA_DATA__SORT": "true", "LA_DATA__SYMBOL": "ETHUSDT", "LA_RUN__SEED": "7"}, config_dir=CONFIG
    )
    assert (s.data.sort, s.data.symbol, s.run.seed) == (True, "ETHUSDT", 7)


def test_secrets_are_redacted_in_the_dump() -> None:
    s = load_settings(environ={"LA_DASHBOARD__TOKEN": "tok-123"}, config_dir=CONFIG)
    assert s.dashboard.token is not None and s.dashboard.token.get_secret_value() == "tok-123"
    assert redacted_dump(s)["dashboard"]["token"] == "***"
    assert "tok-123" not in repr(s)


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(Exception, match="frozen"):
        s.risk.risk_pct = 3.0  # type: ignore[misc]


def test_config_reference_doc_is_current() -> None:
    """docs/CONFIG.md is generated; regenerate it with `python -m laptop_agents.config.reference`."""
    from laptop_agents.config.reference import config_reference_markdown

    assert (REPO / "docs" / "CONFIG.md").read_text() == config_reference_markdown()
