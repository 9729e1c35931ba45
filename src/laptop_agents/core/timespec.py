"""Instants and time ranges as a user types them: `2024-01-01`, `20240101`, `2024-01-01T12:30`, epoch ms.

Every instant is UTC. A range `20240101-20240301` (Freqtrade's form; either side may be left out) is
half-open, `[start, end)`: it holds the candles that open from its start up to, not including, its end.
"""

from __future__ import annotations

from datetime import UTC, datetime

from laptop_agents.core.errors import InputError

_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
_HELP = "use a UTC date like 2024-01-01 or 20240101, a time like 2024-01-01T12:30, or epoch milliseconds"


def parse_instant(text: str, *, field: str) -> int:
    """Epoch ms of `text` (see the module docstring); an `InputError` naming `field` otherwise."""
    value = text.strip().removesuffix("Z")
    if value.isdigit() and len(value) >= 12:  # epoch ms (a date like 20240101 has 8 digits)
        return int(value)
    if value.isdigit() and len(value) >= 9:
        raise InputError(f"{field} {text!r}: epoch seconds? give milliseconds ({value}000) or a date like 2024-01-01")
    for form in _FORMATS:
        try:
            moment = datetime.strptime(value, form).replace(tzinfo=UTC)
        except ValueError:
            continue
        return int(moment.timestamp() * 1000)
    raise InputError(f"{field} {text!r}: {_HELP}")


def split_timerange(text: str, *, field: str = "--timerange") -> tuple[str | None, str | None]:
    """`START-END`, `START-` or `-END` as its two sides' text (None when left out), both checked."""
    value = text.strip()
    head, dash, tail = value.partition("-") if _compact(value) else _split_iso(value)
    if not dash or not (head or tail):
        raise InputError(f"{field} {text!r}: use START-END, START- or -END, e.g. 20240101-20240301")
    start = parse_instant(head, field=field) if head else None
    end = parse_instant(tail, field=field) if tail else None
    if start is not None and end is not None and start >= end:
        raise InputError(f"{field} {text!r}: the start must be before the end")
    return head or None, tail or None


def parse_timerange(text: str, *, field: str = "--timerange") -> tuple[int | None, int | None]:
    """`START-END`, `START-` or `-END` as (start ms, end ms), each None when left out."""
    head, tail = split_timerange(text, field=field)
    return (
        None if head is None else parse_instant(head, field=field),
        None if tail is None else parse_instant(tail, field=field),
    )


def _compact(value: str) -> bool:
    """A range of compact dates or epoch ms (`20240101-20240301`): the only '-' separates the two sides."""
    return value.count("-") == 1


def _split_iso(value: str) -> tuple[str, str, str]:
    """A range of ISO dates (`2024-01-01-2024-03-01`, `2024-01-01-`): split after the first instant."""
    for cut in range(len(value)):
        if value[cut] != "-":
            continue
        head, tail = value[:cut], value[cut + 1 :]
        if _parses(head) and (not tail or _parses(tail)):
            return head, "-", tail
        if not head and _parses(tail):
            return "", "-", tail
    return value, "", ""


def _parses(text: str) -> bool:
    try:
        parse_instant(text, field="")
    except InputError:
        return False
    return True


def format_ms(ts: int) -> str:
    """`2024-01-01 00:00` (UTC), seconds shown only when there are any."""
    moment = datetime.fromtimestamp(ts / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")
