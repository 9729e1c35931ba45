"""live-exchange opt-in and preflight, as a user runs them: the `la` command in a subprocess against the
simulated exchange on loopback. A refusal is one line on stderr, exit 2, and no order request."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from laptop_agents.exchange.bitunix.sim.server import SimExchange
from tests.exchange.conftest import KEY, SECRET, bundled_candles, sim_config

LA = Path(sys.executable).with_name("la")
ORDER_PATHS = ("/trade/place_order", "/trade/cancel_orders", "/tpsl/")


async def la(
    tmp_path: Path, sim: SimExchange | None, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run `la run --mode live-exchange ...` in `tmp_path` without blocking the simulator's event loop."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BITUNIX_", "LA_"))}
    command = [str(LA)] if LA.exists() else [sys.executable, "-m", "laptop_agents.cli"]
    url = ["--set", f"exchange.rest_url={sim.rest_url}"] if sim is not None else []
    proc = await asyncio.create_subprocess_exec(
        *command, "run", "--mode", "live-exchange", *url, *args,
        cwd=tmp_path, env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


KEYS = {"BITUNIX_API_KEY": KEY, "BITUNIX_API_SECRET": SECRET}


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange(sim_config(), {"BTCUSDT": bundled_candles()}) as exchange:
        yield exchange


def order_requests(sim: SimExchange) -> list[str]:
    return [r.path for r in sim.requests if any(p in r.path for p in ORDER_PATHS)]


def run_events(tmp_path: Path) -> list[dict[str, object]]:
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.name != "latest"]
    return [orjson.loads(line) for line in (folder / "events.jsonl").read_bytes().splitlines()]


async def test_without_confirm_live_it_refuses_before_any_network_call(tmp_path: Path, sim: SimExchange) -> None:
    code, out, err = await la(tmp_path, sim, "--preflight-only", env=KEYS)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--confirm-live" in err
    assert len(sim.requests) == 0 and not (tmp_path / "runs").exists()


async def test_without_keys_it_refuses_before_any_network_call(tmp_path: Path, sim: SimExchange) -> None:
    code, out, err = await la(tmp_path, sim, "--confirm-live", env={"BITUNIX_API_KEY": KEY})
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "BITUNIX_API_SECRET" in err and "BITUNIX_CREDENTIALS_FILE" in err
    assert len(sim.requests) == 0 and not (tmp_path / "runs").exists()


async def test_a_credentials_file_readable_by_others_is_refused(tmp_path: Path, sim: SimExchange) -> None:
    creds = tmp_path / "bitunix.json"
    creds.write_bytes(orjson.dumps({"api_key": KEY, "api_secret": SECRET}))
    creds.chmod(0o644)
    code, _, err = await la(tmp_path, sim, "--confirm-live", env={"BITUNIX_CREDENTIALS_FILE": str(creds)})
    assert code == 2 and err.count("\n") == 1 and f"chmod 600 {creds}" in err and SECRET not in err
    assert len(sim.requests) == 0
    creds.chmod(0o600)
    code, out, err = await la(
        tmp_path, sim, "--confirm-live", "--preflight-only", env={"BITUNIX_CREDENTIALS_FILE": str(creds)}
    )
    assert (code, err) == (0, "") and "preflight passed" in out


async def test_a_bad_signature_stops_the_preflight_at_the_keys_check(tmp_path: Path, sim: SimExchange) -> None:
    wrong = {"BITUNIX_API_KEY": KEY, "BITUNIX_API_SECRET": "not-the-secret-" + "x" * 16}
    code, out, err = await la(tmp_path, sim, "--confirm-live", env=wrong)
    assert code == 2 and err.count("\n") == 1
    assert "preflight keys failed" in err and "10007" in err and "BITUNIX_API_SECRET" in err
    assert "FAIL keys" in out and "not-the-secret" not in out + err
    checks = [(e["check"], e["ok"]) for e in run_events(tmp_path) if e["event"] == "PreflightCheck"]
    assert checks == [("connectivity", True), ("clock", True), ("keys", False)]
    assert order_requests(sim) == []


async def test_preflight_sets_leverage_and_margin_mode_and_records_every_check(
    tmp_path: Path, sim: SimExchange
) -> None:
    code, out, err = await la(
        tmp_path, sim, "--confirm-live", "--preflight-only", "--set", "exchange.leverage=7", env=KEYS
    )
    assert (code, err) == (0, "")
    events = run_events(tmp_path)
    checks = [(e["check"], e["ok"]) for e in events if e["event"] == "PreflightCheck"]
    names = ("connectivity", "clock", "keys", "position_mode", "contracts", "leverage", "balance")
    assert checks == [(name, True) for name in names]
    for event in events:  # issue 16: the checks and the start are dated when they happened, never 0
        assert abs(event["ts_event"] - event["ts_init"]) < 60_000, event
    account = sim.ledger.accounts[KEY]
    assert (account.leverage["BTCUSDT"], account.margin_mode["BTCUSDT"]) == (7, "ISOLATION")
    assert "BTCUSDT 7x ISOLATION (was 10 CROSS)" in out and "available 10,000.00 USDT" in out
    assert "tick 0.1 lot 0.001 min 0.001 max leverage 125" in out
    assert order_requests(sim) == []
    # the secret and the request signatures are nowhere: not in output, not in any file of the run
    signatures = [r for r in sim.requests if r.api_key]  # signed requests were made ...
    assert signatures
    everything = out + err + "".join(p.read_text() for p in (tmp_path / "runs").rglob("*") if p.is_file())
    assert SECRET not in everything and "sign" not in everything.lower().replace("signed", "")


@pytest.mark.parametrize("offset_ms", [30_000, -30_000])
async def test_a_server_clock_off_by_more_than_the_bound_is_refused(tmp_path: Path, offset_ms: int) -> None:
    async with SimExchange(sim_config(clock_offset_ms=offset_ms), {"BTCUSDT": bundled_candles()}) as sim:
        code, _, err = await la(tmp_path, sim, "--confirm-live", env=KEYS)
    assert code == 2 and err.count("\n") == 1 and "preflight clock failed" in err and "NTP" in err
    measured = float(re.search(r"clock is ([+-][0-9.]+) s", err).group(1))  # type: ignore[union-attr]
    assert abs(measured - offset_ms / 1000) <= 1.0  # the Date header has whole seconds
    assert [r.path for r in sim.requests if r.api_key] == []  # nothing signed was even tried


async def test_a_symbol_the_exchange_does_not_list_is_refused(tmp_path: Path, sim: SimExchange) -> None:
    code, _, err = await la(tmp_path, sim, "--confirm-live", "--symbol", "NOPEUSDT", env=KEYS)
    assert code == 2 and err.count("\n") == 1 and "NOPEUSDT" in err and "preflight" in err
    assert order_requests(sim) == []


async def test_a_flat_hedge_mode_account_is_switched_to_one_way(tmp_path: Path, sim: SimExchange) -> None:
    """In HEDGE mode an order's side names a position leg: a reduce-only close or the reconciliation could
    act on the wrong one (issue 13, item 5). A flat account is switched, and read back."""
    account = sim.ledger.accounts[KEY]
    account.position_mode = "HEDGE"
    code, out, err = await la(tmp_path, sim, "--confirm-live", "--preflight-only", env=KEYS)
    assert (code, err) == (0, "")
    assert account.position_mode == "ONE_WAY"
    assert "position_mode ONE_WAY (switched from HEDGE: the account was flat)" in out
    assert [r.code for r in sim.requests_to("/account/change_position_mode")] == [0]


async def test_a_hedge_mode_account_with_positions_is_refused(tmp_path: Path, sim: SimExchange) -> None:
    account = sim.ledger.accounts[KEY]
    sim.ledger.place_order(account, {"symbol": "BTCUSDT", "side": "BUY", "orderType": "MARKET", "qty": "0.01"})
    account.position_mode = "HEDGE"
    code, _, err = await la(tmp_path, sim, "--confirm-live", env=KEYS)
    assert code == 2 and err.count("\n") == 1
    assert "preflight position_mode failed" in err and "HEDGE" in err and "BTCUSDT" in err
    assert account.position_mode == "HEDGE" and order_requests(sim) == []
