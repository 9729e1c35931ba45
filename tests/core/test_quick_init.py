"""`quick_init`: every event and intent built through it is the instance dataclasses' own `__init__` made."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from laptop_agents.core.event_codec import EVENT_TYPES
from laptop_agents.core.events import SignalGenerated
from laptop_agents.core.orders import EntryIntent
from laptop_agents.core.quick_init import quick_init
from laptop_agents.risk.sizing import SizeDecision

QUICK = sorted([*EVENT_TYPES.values(), EntryIntent, SizeDecision], key=lambda cls: cls.__name__)


def _value(i: int, f: dataclasses.Field[Any]) -> object:
    return {"int": i, "float": i + 0.5, "bool": True}.get(str(f.type), f"v{i}")


@pytest.mark.parametrize("cls", QUICK, ids=lambda cls: cls.__name__)
def test_the_quick_init_takes_what_the_dataclass_init_took_and_sets_every_field(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields, strict=True):
        assert p.kind is (p.KEYWORD_ONLY if f.kw_only else p.POSITIONAL_OR_KEYWORD)
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        assert (p.default is not p.empty) == has_default
    values = {f.name: _value(i, f) for i, f in enumerate(fields)}
    if cls is EntryIntent:  # its __post_init__ checks these
        values.update(side="long", stop_distance=1.0, entry_type="market", size_mult=1.0)
    made = cls(**values)
    reference = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(reference, name, value)
    assert made == reference and repr(made) == repr(reference)
    assert all(getattr(made, name) is value for name, value in values.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, fields[0].name, values[fields[0].name])
    if all(isinstance(v, int | float | str) for v in values.values()):
        assert hash(made) == hash(reference)
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    with pytest.raises(TypeError, match=required[0]):
        cls(**{k: v for k, v in values.items() if k != required[0]})
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        cls(**values, nope=1)


def test_defaults_and_factories_are_as_declared_and_a_factory_makes_a_new_object_each_time() -> None:
    a = SignalGenerated(ts=1, direction="long", setup="s", reason="r", entry_allowed=True)
    b = SignalGenerated(ts=1, direction="long", setup="s", reason="r", entry_allowed=True)
    assert a.symbol == "" and a.blocked_reason is None and a.indicators == {} and a.indicators is not b.indicators
    assert (
        str(inspect.signature(SignalGenerated).parameters["indicators"]) == "indicators: 'dict[str, float]' = <factory>"
    )


def test_post_init_still_checks_the_fields() -> None:
    with pytest.raises(ValueError, match="size_mult must be > 0"):
        EntryIntent("long", 1.0, "s", "r", size_mult=0.0)
    intent = EntryIntent("short", 2.0, "s", "r")  # positional, as dataclasses allows for a class not kw_only
    assert (intent.side, intent.stop_distance, intent.entry_type) == ("short", 2.0, "market")


def test_a_class_it_cannot_speed_up_exactly_is_refused_at_import() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        x: int

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Computed:
        x: int
        y: int = dataclasses.field(init=False, default=0)

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithInitVar:
        x: int
        scale: dataclasses.InitVar[int]

        def __post_init__(self, scale: int) -> None:
            pass

    for cls in (Mutable, NoSlots):
        with pytest.raises(TypeError, match="needs a frozen, slotted dataclass"):
            quick_init(cls)
    for cls in (Computed, WithInitVar):
        with pytest.raises(TypeError, match="not all plain init fields"):
            quick_init(cls)
