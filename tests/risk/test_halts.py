"""Issue 16: every change of a core's entry halts is recorded (a replay feeds them back), whichever way the
mapping is changed, and a halt stays in force when its record cannot be written (a full disk)."""

from __future__ import annotations

import pytest

from laptop_agents.risk.risk_gate import Halts


def _recorded() -> tuple[Halts, list[tuple[str, str | None]]]:
    halts, told = Halts(), []  # type: ignore[var-annotated]
    halts.recorder = lambda key, detail: told.append((key, detail))
    return halts, told


def test_every_way_of_changing_the_halts_is_recorded_once_per_change() -> None:
    halts, told = _recorded()
    halts["a"] = "x"
    halts["a"] = "x"  # no change: not recorded again
    halts.setdefault("a", "other")  # present: no change
    halts.setdefault("b", "y")
    halts.update({"c": "z"}, d="w")
    halts |= {"e": "v"}
    halts.pop("missing", None)
    halts.pop("a")
    del halts["b"]
    halts.popitem()  # the last one set: e
    halts.clear()
    assert told == [("a", "x"), ("b", "y"), ("c", "z"), ("d", "w"), ("e", "v"), ("a", None), ("b", None),
                    ("e", None), ("c", None), ("d", None)]  # fmt: skip
    assert dict(halts) == {}
    with pytest.raises(KeyError):
        del halts["gone"]


def test_a_halt_whose_record_cannot_be_written_is_still_in_force() -> None:
    halts = Halts()

    def full_disk(key: str, detail: str | None) -> None:
        raise OSError(28, "No space left on device")

    halts.recorder = full_disk
    with pytest.raises(OSError, match="No space left"):
        halts["checkpoint"] = "state.json cannot be written"
    assert halts == {"checkpoint": "state.json cannot be written"}  # entries stay halted
