"""state.json is written atomically, keeps its predecessor, and refuses anything it cannot trust."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from laptop_agents.core.errors import CheckpointError
from laptop_agents.runs.checkpoint import CHECKPOINT_SCHEMA, read_checkpoint, write_checkpoint


def test_round_trip_and_previous_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_checkpoint(path, {"cash": 1.5, "n": 1})
    write_checkpoint(path, {"cash": 2.5, "n": 2})
    assert read_checkpoint(path) == {"cash": 2.5, "n": 2}
    assert read_checkpoint(path.with_name("state.json.prev")) == {"cash": 1.5, "n": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.prev"]  # no temp left


@pytest.mark.parametrize(
    ("corrupt", "fragment"),
    [
        (lambda b: b[: len(b) // 2], "not valid JSON"),
        (lambda b: b.replace(b'"cash": 1.5', b'"cash": 9.5'), "fails its checksum"),
        (lambda b: b.replace(b'"schema": 2', b'"schema": 99'), "schema 99"),
        (lambda b: b'{"schema": 2}', "no payload"),
    ],
)
def test_untrustworthy_checkpoints_are_refused_with_the_way_out(tmp_path: Path, corrupt: object, fragment: str) -> None:
    path = tmp_path / "state.json"
    write_checkpoint(path, {"cash": 1.5})
    path.write_bytes(corrupt(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=fragment) as info:
        read_checkpoint(path)
    if "no payload" not in fragment:
        assert "state.json.prev" in str(info.value)


def test_checkpoint_is_readable_json(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_checkpoint(path, {"a": [1, 2]})
    doc = orjson.loads(path.read_bytes())
    assert (
        doc["schema"] == CHECKPOINT_SCHEMA == 2
        and doc["checksum"].startswith("sha256:")
        and doc["payload"] == {"a": [1, 2]}
    )


def test_a_crash_between_keeping_prev_and_writing_new_leaves_the_old_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 cannot be aimed at an instant, so the second write is made to die instead: state.json must
    still be there, holding the old checkpoint (it used to be renamed away first, leaving nothing)."""
    from laptop_agents.runs import checkpoint

    path = tmp_path / "state.json"
    write_checkpoint(path, {"n": 1})
    real = checkpoint.atomic_write_bytes
    calls = []

    def dies_on_the_new_file(target: Path, data: bytes, **options: Any) -> None:
        calls.append(target.name)
        if target == path:
            raise SystemExit("killed")
        real(target, data, **options)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", dies_on_the_new_file)
    with pytest.raises(SystemExit):
        write_checkpoint(path, {"n": 2})
    assert calls == ["state.json.prev", "state.json"]
    assert read_checkpoint(path) == {"n": 1}
    assert read_checkpoint(path.with_name("state.json.prev")) == {"n": 1}
