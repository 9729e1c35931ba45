"""`--resume`'s first step: the checkpoint, verified, and every run file cut back to what it accounts for.

Nothing is cut unless every file checks out. A checkpoint damaged on disk (not JSON, no payload, a failed
checksum) does not end the run: the one before it, `state.json.prev`, is taken instead when it verifies and
every file is at least as long as it says. That is the state of a daemon killed just before its last
checkpoint, which a resume handles anyway (the files are cut back to it; a live-exchange journal is
replayed whole). The damaged file is kept as `state.json.bad` and one line says so. A checkpoint of another
schema (another version's) is whole, not damaged: it is refused, never stepped around.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from laptop_agents.core.errors import CheckpointError
from laptop_agents.runs.checkpoint import CheckpointDamaged, read_checkpoint
from laptop_agents.runs.run_folder import RunFolder


def _stderr(line: str) -> None:
    print(f"la: {line}", file=sys.stderr, flush=True)


def prepare_resume(folder: RunFolder, mode: str, *, say: Callable[[str], None] = _stderr) -> dict[str, Any]:
    """The checkpoint to resume `mode` from (see the module docstring); `say` gets the line of a fallback.
    Called with the run's lock held: the temp files a killed process left are removed first."""
    remove_dead_temp_files(folder)
    try:
        return _checked(folder, read_checkpoint(folder.state), folder.state.name, mode)
    except CheckpointDamaged as damaged:
        prev = folder.state.with_name(folder.state.name + ".prev")
        try:
            payload = _checked(folder, read_checkpoint(prev), prev.name, mode)
        except CheckpointError as exc:
            raise CheckpointError(f"{damaged}; and {prev.name} cannot be used either: {exc}") from None
        bad = folder.state.with_name(folder.state.name + ".bad")
        folder.state.replace(bad)
        say(
            f"{damaged.args[0].split(';')[0]}: kept as {bad.name}; resuming from {prev.name} (event "
            f"{payload.get('event_seq')}, the checkpoint before it)"
        )
        return payload


def remove_dead_temp_files(folder: RunFolder) -> list[str]:
    """A process killed between writing a temp file and renaming it (`base.atomic`: `.<name>.tmp-<pid>`)
    leaves it behind for good: the rename never happens, no later write uses that pid's name. Other
    commands write into the folder without the lock (`la stop`, `la resume`, the dashboard's kill switch),
    so only the files of a pid that no longer runs are removed. Returns the names removed."""
    removed = []
    for path in folder.path.glob(".*.tmp-*"):
        pid = path.name.rpartition(".tmp-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or a platform without signal 0: leave its file alone
        return True
    return True


def _checked(folder: RunFolder, payload: dict[str, Any], name: str, mode: str) -> dict[str, Any]:
    files = payload.get("files")
    if not isinstance(files, dict) or payload.get("mode") != mode:
        raise CheckpointError(f"checkpoint {name} is not a {mode} checkpoint; it cannot be resumed")
    named = (
        ("events", folder.events),
        ("trades", folder.trades),
        ("equity", folder.equity),
        ("journal", folder.journal),
    )
    cuts = []
    for key, path in named:
        if key == "journal" and not path.exists() and int(files.get(key, 0)) == 0:
            continue  # the journal exists once a journaling strategy wrote to it
        size = int(files[key])
        actual = path.stat().st_size if path.exists() else -1
        if actual < size:
            raise CheckpointError(
                f"{path.name} is shorter ({actual} bytes) than checkpoint {name} says ({size}); the run folder "
                "is inconsistent"
            )
        cuts.append((path, size))
    for path, size in cuts:
        with path.open("r+b") as handle:
            handle.truncate(size)
    return payload
