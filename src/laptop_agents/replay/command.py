"""`la replay RUN [--set KEY=VALUE ...]`: exit 0 and "identical: N decisions", or exit 1 and the first
divergence; bad input (no such run, a damaged log, a changed data file) exits 2 with one line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from laptop_agents.config.loader import Change, resume_settings
from laptop_agents.config.models import Settings
from laptop_agents.core.errors import InputError
from laptop_agents.core.events import RunStarted
from laptop_agents.live.venue import JOURNAL
from laptop_agents.replay.backtest import replay_backtest
from laptop_agents.replay.decisions import DecisionCheck, Diverged
from laptop_agents.replay.live import replay_live, revert_changes
from laptop_agents.replay.records import read_records
from laptop_agents.runs.checkpoint import read_checkpoint
from laptop_agents.runs.run_ref import read_run_config, resolve_run


@dataclass(frozen=True, slots=True)
class ReplayResult:
    run_id: str
    mode: str
    decisions: int
    divergence: str | None
    changes: tuple[Change, ...]
    torn_bytes: int
    from_seq: int | None = None
    """Replayed from the checkpoint taken at this event number (None: from the start)."""

    @property
    def identical(self) -> bool:
        return self.divergence is None

    def lines(self) -> list[str]:
        start = "from its start" if self.from_seq is None else f"from its checkpoint at seq {self.from_seq}"
        out = [f"replay of {self.run_id} ({self.mode}) {start}"]
        if self.torn_bytes:
            out.append(
                f"the log's last line was torn ({self.torn_bytes} bytes: the daemon stopped mid-write); left out"
            )
        out += [f"changed for this replay: {c.line()}" for c in self.changes]
        if self.divergence is None:
            out.append(f"identical: {self.decisions} decisions")
        else:
            out.append(self.divergence)
        return out


def replay_run(folder: Path, *, sets: Sequence[str] = (), from_checkpoint: bool = False) -> ReplayResult:
    """Replay the run in `folder`, its configuration changed by `sets` (`section.key=value`); from its start,
    or from its checkpoint (`state.json`)."""
    records = read_records(folder / "events.jsonl")
    started = next((e for r in records.records if r.kind is RunStarted and isinstance(e := r.event, RunStarted)), None)
    if started is None:
        raise InputError(f"{folder / 'events.jsonl'} has no RunStarted: the run never started; nothing to replay")
    if started.mode != "backtest" and records.records[0].body() is None:
        raise InputError(
            f"{folder.name} was recorded before the core's inputs were (events.jsonl v1): a live run of that "
            "version cannot be replayed; its backtests can (their inputs are their files)"
        )
    saved = read_run_config(folder, command="la replay")
    changes: list[Change] = []

    def make(config: dict[str, Any]) -> Settings:
        settings, changed = resume_settings(config, sets=list(sets), environ={})
        if not changes:
            changes.extend(changed)
        return settings

    check = DecisionCheck()
    divergence = None
    checkpoint: dict[str, Any] | None = None
    try:
        if started.mode == "backtest":
            if from_checkpoint:
                raise InputError(
                    "a backtest's checkpoint is its end: replay it from the start (drop --from-checkpoint)"
                )
            replay_backtest(make(saved), records.records, check)
        else:
            first = revert_changes(saved, records.records)
            checkpoint = read_checkpoint(folder / "state.json") if from_checkpoint else None
            run_id = str(orjson.loads(records.records[0].line)["run_id"])  # the ids' prefix, wherever it is now
            journal = _journal_lines(folder) if from_checkpoint and started.mode == "live-exchange" else ()
            replay_live(records.records, check, run_id=run_id, config=first, make=make, checkpoint=checkpoint,
                        journal=journal)  # fmt: skip
    except Diverged as exc:
        divergence = exc.report
    from_seq = None if checkpoint is None else int(checkpoint["event_seq"])
    return ReplayResult(
        folder.name, started.mode, check.decisions, divergence, tuple(changes), records.torn_bytes, from_seq
    )


def _journal_lines(folder: Path) -> tuple[dict[str, Any], ...]:
    """A live-exchange run's order journal, each whole line (a torn last one is left out, as the daemon does)."""
    path = folder / JOURNAL
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise InputError(f"cannot read {path} ({exc.strerror})") from None
    try:
        return tuple(orjson.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path} is damaged ({exc}); replay the run from its start") from None


def run(
    run_ref: str, runs_dir: str, sets: Sequence[str], *, from_checkpoint: bool = False,
    out: Callable[[str], None] = print,
) -> int:  # fmt: skip
    folder = resolve_run(run_ref, runs_dir, command="la replay")
    result = replay_run(folder, sets=sets, from_checkpoint=from_checkpoint)
    for line in result.lines():
        out(line)
    return 0 if result.identical else 1
