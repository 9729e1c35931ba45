"""The RUNBOOK's rehearsal sections, run literally (issue 14: every command of the RUNBOOK does what it says).

The shell blocks are read from docs/RUNBOOK.md and carried out by a small interpreter of the few shell forms
they use: `.venv/bin/la ...` (this environment's `la`; `&` or a daemon's `la run` in the background),
`export`, a `cat > FILE <<'JSON'` here-document, `curl -X POST URL -d BODY` (sent with urllib, so no curl
is needed) and `kill -9 $(...)` (run by bash as written). A separate `la sim-exchange` process is the
exchange, as in the RUNBOOK; only its port is a free one instead of 18777, a few timers are shorter
(through `LA_*` variables) so that a 30 s window takes 3 s, and the breaker is off so that orders keep
coming however slow the machine (the daily loss limit too).
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import REPO
from tests.daemon.test_daemon_process import clean_env, la_command, wait_for
from tests.helpers import read_events

pytestmark = pytest.mark.slow
RUNBOOK = (REPO / "docs" / "RUNBOOK.md").read_text()
FASTER = {"LA_RUN__HEARTBEAT_INTERVAL_S": "0.5", "LA_RUN__CHECKPOINT_INTERVAL_S": "1",
          "LA_LIVE__UNKNOWN_WINDOW_S": "3", "LA_LIVE__LOOKUP_INTERVAL_S": "0.2",
          "LA_LIVE__POLL_INTERVAL_S": "0.5",
          # the replay runs at 600x whatever the machine's speed: on a slow one the breaker or the daily loss
          # limit may stop entries on a run of losses before a step needs an order or a position
          "LA_CIRCUIT_BREAKER__ENABLED": "false", "LA_LIVE__MAX_DAILY_LOSS": "1000000",
          "LA_LIVE__MAX_DAILY_LOSS_PCT": "100"}  # fmt: skip


def section(title: str) -> str:
    return RUNBOOK.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, lang: str = "bash") -> list[str]:
    """The fenced blocks of one language (`""` for the plain ones), in order."""
    found: list[str] = []
    current: list[str] | None = None
    kind = ""
    for line in text.splitlines():
        if line.startswith("```") and current is None:
            current, kind = [], line[3:].strip()
        elif line.startswith("```") and current is not None:
            if kind == lang:
                found.append("".join(f"{x}\n" for x in current))
            current = None
        elif current is not None:
            current.append(line)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Shell:
    """Runs RUNBOOK lines in a folder, with an environment that `export` changes."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.background: list[subprocess.Popen[str]] = []

    def run_block(self, block: str) -> list[Any]:
        results: list[Any] = []
        lines = iter(block.splitlines())
        for line in lines:
            if line.startswith("cat > "):
                target, end = re.fullmatch(r"cat > (\S+) <<'(\w+)'", line).groups()  # type: ignore[union-attr]
                body = "".join(f"{x}\n" for x in _until(lines, end))
                (self.cwd / target).write_text(body)
            elif line.strip():
                results.append(self.run_line(line))
        return results

    def run_line(self, line: str) -> Any:
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            self.env.update(w.split("=", 1) for w in words[1:])  # type: ignore[arg-type]
            return None
        if words[0] == "curl":
            return self.curl(words)
        if words[0] == ".venv/bin/la":
            command = [*la_command(), *words[1:]]
            if words[-1] == "&" or (words[1] == "run" and "--preflight-only" not in words):
                proc = subprocess.Popen([c for c in command if c != "&"], cwd=self.cwd, env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
                self.background.append(proc)
                return proc
            return subprocess.run(command, cwd=self.cwd, env=self.env, capture_output=True, text=True,
                                  timeout=90, check=False)  # fmt: skip
        return subprocess.run(["bash", "-c", line], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip

    @staticmethod
    def curl(words: list[str]) -> dict[str, Any]:
        assert words[1:3] == ["-X", "POST"], words
        url = words[3]
        data = words[words.index("-d") + 1].encode() if "-d" in words else b""
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=10) as reply:
            return orjson.loads(reply.read())  # type: ignore[no-any-return]

    def stop_all(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


def _until(lines: Iterator[str], end: str) -> Iterator[str]:
    for line in lines:
        if line == end:
            return
        yield line


def events(folder: Path) -> list[dict[str, Any]]:
    return read_events(folder)


def journal(folder: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in (folder / "orders.jsonl").read_bytes().splitlines()]


def beat(folder: Path) -> dict[str, Any]:
    try:
        return orjson.loads((folder / "heartbeat.json").read_bytes())  # type: ignore[no-any-return]
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}


def ready(proc: subprocess.Popen[str]) -> str:
    """The simulator's first line (its URLs), once it serves."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("sim-exchange ready"), line + (proc.stderr.read() if proc.stderr else "")
    return line


def test_rehearsing_live_exchange_as_the_runbook_writes_it(tmp_path: Path) -> None:
    text = section("Rehearsing live-exchange").replace("18777", str(free_port()))
    setup, session, faults, crash, stop = blocks(text)
    (transcript,) = blocks(text, lang="")
    shell = Shell(tmp_path, clean_env() | FASTER)
    run = tmp_path / "runs" / "rehearsal"
    try:
        # 1. the exchange and a config pointing at it
        (sim, _) = shell.run_block(setup)
        ready(sim)
        assert orjson.loads((tmp_path / "live.json").read_bytes())["exchange"]["leverage"] == 10

        # 2. the preflight alone: the checks the RUNBOOK shows, in its order, and nothing sent
        command, *expected = transcript.strip().splitlines()
        done = shell.run_line(command.removeprefix("$ "))
        assert done.returncode == 0, done.stdout + done.stderr
        got = done.stdout.strip().splitlines()
        run_id = re.compile(r"\d{8}-\d{6}-live-exchange-[0-9a-f]+")
        assert run_id.sub("ID", got[0]) == run_id.sub("ID", expected[0])
        assert [line.split()[:3] for line in got[1:]] == [line.split()[:3] for line in expected[1:]], done.stdout
        assert got[-1] == "preflight passed: nothing was sent"

        # 3. the session: each order's path in the events, the exchange block in the heartbeat
        (daemon,) = shell.run_block(session)

        def path_seen() -> bool:
            kinds = [e["event"] for e in events(run)]
            return "PositionOpened" in kinds and "Fill" in kinds

        wait_for(path_seen, 60, "an order filled and a position opened")
        states = [e["state"] for e in events(run) if e["event"] == "OrderState"]
        assert states[:3] == ["SENT", "ACKED", "FILLED"], states
        wait_for(lambda: "exchange" in beat(run), 10, "the heartbeat's exchange block")
        wanted = {"private_stream", "open_orders", "unknown_orders", "exchange_available", "reconciliation",
                  "sent", "acked", "rejected", "unknown", "not_found"}  # fmt: skip
        assert wanted <= set(beat(run)["exchange"]), sorted(beat(run)["exchange"])

        # 4. faults while it runs: the lost ack is found by client id, the rate-limited one NOT_FOUND
        # the journal's records from here on (an intent journaled just before may be the one sent next)
        before = len(journal(run))
        (switched,) = shell.run_block(faults)
        assert switched["drop_order_response_next"] == 1 and switched["rate_limit_next"] == 2

        def moves(state: str) -> list[str]:
            return [r["client_id"] for r in journal(run)[before:] if r["op"] == "move" and r["state"] == state]

        def filled_unacked() -> list[str]:  # the private push booked the fill before the cut reply arrived
            acked = set(moves("ACKED"))
            return [cid for cid in moves("FILLED") if cid in moves("SENT") and cid not in acked]

        try:
            wait_for(lambda: bool(moves("UNKNOWN") or filled_unacked()), 60, "an order with no clear answer")
        except AssertionError:
            recent = [e for e in events(run) if e["event"] != "SignalGenerated"][-12:]
            raise AssertionError(f"no order met the faults: {beat(run)} {recent}") from None
        if moves("UNKNOWN"):  # the reply was cut first: unknown, then looked up by client id
            wait_for(lambda: set(moves("UNKNOWN")) <= set(moves("FILLED")) | set(moves("NOT_FOUND")), 30,
                     "each unknown order found or given up")  # fmt: skip
            unknown = [e for e in events(run) if e["event"] == "OrderState" and e["state"] == "UNKNOWN"]
            assert any("no clear answer" in e["detail"] for e in unknown), unknown
            assert set(moves("UNKNOWN")) & set(moves("FILLED")), "the lost ack was not found by client id"
        else:  # under load the fill's push can come first: the order is known by its client id at once
            assert filled_unacked()
        placements = [r for r in _requests(text) if r["path"].endswith("/trade/place_order")]
        intents = [r["client_id"] for r in journal(run) if r["op"] == "intent"]
        assert len(placements) == len(intents)  # looked up, never sent again

        # 5. kill -9 with a position open, the venue liquidates it, then resume. The replay is paused first so
        # that the venue's own TP/SL cannot close the position between the kill and the liquidation.
        kill, resume = crash.strip().splitlines()
        (pause,) = re.findall(r"`(curl -X POST \S+/admin/pause)`", text)
        (liquidate,) = re.findall(r"`(curl -X POST \S+/admin/liquidate[^`]*)`", text)
        (play,) = re.findall(r"`(curl -X POST \S+/admin/play)`", text)
        for _ in range(10):  # until the kill leaves a position on the (paused) venue
            try:
                wait_for(lambda: bool(beat(run).get("positions")), 60, "a position open")
            except AssertionError:
                raise AssertionError(f"no position: {beat(run)} {events(run)[-5:]}") from None
            assert shell.run_line(pause)["paused"]
            assert shell.run_line(kill).returncode == 0
            daemon.communicate(timeout=10)
            assert daemon.returncode == -9
            # the daemon is gone and the market frozen: nothing can change the position now. The heartbeat may
            # have been late, or an order in flight closed it between the pause and the kill: then go on
            if _venue_position(text, "BTCUSDT"):
                break
            assert shell.run_line(play)["paused"] is False
            daemon = shell.run_line(resume)
            pid = daemon.pid
            wait_for(lambda: beat(run).get("pid") == pid and beat(run).get("state") == "running", 30,  # noqa: B023
                     "the resumed daemon running")  # fmt: skip
        else:
            raise AssertionError("no kill left a position on the venue, 10 times")
        liquidated = shell.run_line(liquidate)["liquidated"]
        assert liquidated, "the paused venue had a position, and the liquidation closed none"
        closes_before = [r for r in journal(run) if r["op"] == "intent" and r["purpose"] == "close"]
        assert shell.run_line(play)["paused"] is False
        resumed = shell.run_line(resume)
        (venue_close,) = liquidated

        def booked() -> bool:  # the venue's close of it, at its price, as the RUNBOOK says
            return any(e["event"] == "PositionClosed" and e["exit_price"] == pytest.approx(venue_close["price"])
                       for e in events(run))  # fmt: skip

        wait_for(booked, 60, "the liquidation booked on resume")
        assert [r for r in journal(run) if r["op"] == "intent" and r["purpose"] == "close"] == closes_before
        wait_for(lambda: beat(run).get("pid") == resumed.pid and beat(run).get("state") == "running", 30,
                 "the resumed daemon running")  # fmt: skip

        # 6. stop: kill switch and flatten, then SIGTERM to the lock's holder
        flatten, terminate = shell.run_block(stop)
        assert flatten.returncode == 0 and "entries halted" in flatten.stdout, flatten.stdout + flatten.stderr
        assert "positions flattened" in flatten.stdout  # and the daemon ran on: the next line stops it
        assert terminate.returncode == 0 and "daemon stopped" in terminate.stdout, terminate.stderr
        out, err = resumed.communicate(timeout=20)
        assert resumed.returncode == 0, err
        assert "Live-exchange session" in out and beat(run)["state"] == "stopped" and not beat(run)["positions"]
    finally:
        shell.stop_all()
    kinds = [e["event"] for e in events(run)]
    assert kinds.count("RunResumed") >= 1 and "KillSwitch" in kinds


def _admin(text: str, what: str) -> Any:
    (admin,) = set(re.findall(r"(http://127\.0\.0\.1:\d+)/admin/", text))
    with urllib.request.urlopen(f"{admin}/admin/{what}", timeout=10) as reply:
        return orjson.loads(reply.read())


def _requests(text: str) -> list[dict[str, Any]]:
    return _admin(text, "requests")  # type: ignore[no-any-return]


def _venue_position(text: str, symbol: str) -> float:
    """The demo account's position on the simulator (`/admin/state`), 0 when flat."""
    return float(_admin(text, "state")["accounts"]["sim-key"]["positions"].get(symbol, 0.0))


def test_rehearsing_faults_as_the_runbook_writes_it(tmp_path: Path) -> None:
    text = section("Rehearsing faults")
    start, switches = blocks(text)
    sim_command = re.search(r"Run a separate `la (sim-exchange[^`]*)`", text).group(1)  # type: ignore[union-attr]
    shell = Shell(tmp_path, clean_env() | FASTER)
    run = tmp_path / "runs" / "faults"
    try:
        sim = shell.run_line(f".venv/bin/la {sim_command} &")
        port = re.search(r"REST http://127\.0\.0\.1:(\d+)", ready(sim)).group(1)  # type: ignore[union-attr]
        (flags,) = [line for line in start.splitlines() if line.startswith("--set")]
        daemon = shell.run_line(f".venv/bin/la run --mode live-paper --run-id faults {flags.replace('PORT', port)}")
        wait_for(lambda: beat(run).get("candles", 0) > 5, 60, "the daemon on the separate simulator")
        assert not [e for e in events(run) if e["event"] == "Error"]
        for line in switches.replace("PORT", port).strip().splitlines():
            shell.run_line(line)
        wanted = {"GapDetected", "GapBackfilled", "Reconnected"}
        wait_for(lambda: wanted <= {e["event"] for e in events(run)}, 60, f"{wanted} in the events")
        wait_for(lambda: sum(e["count"] for e in events(run) if e["event"] == "GapBackfilled") >= 37, 30,
                 "the 37 skipped candles backfilled")  # fmt: skip
        gaps = [e for e in events(run) if e["event"] == "GapDetected"]
        assert sum(e["missing"] for e in gaps) >= 37, gaps
        candles = beat(run)["candles"]
        wait_for(lambda: beat(run)["candles"] > candles + 20 and beat(run)["state"] == "running", 30,
                 "the daemon going on after the faults")  # fmt: skip
        daemon.terminate()
        out, err = daemon.communicate(timeout=20)
        assert daemon.returncode == 0, err
        assert "Live-paper session" in out
    finally:
        shell.stop_all()
    fatal = [e for e in events(run) if e["event"] == "Error" and e.get("fatal")]
    assert not fatal, fatal
