"""The process's secrets by value: whatever text leaves the process passes `scrub` once they are known.

Redaction by key name (`daemon_log.redact`) catches a secret in a field called `secret`; it cannot catch one
inside an exception's text, a venue's error message that echoes the API key, a repr or a traceback. So the
values themselves are registered when they are loaded (`register`), and every way out replaces them: the
daemon's log lines (rendered, tracebacks included), the standard library's logging, the event log (and the
listeners behind it: dashboard, alerts), the CLI's one-line errors and an uncaught exception's traceback.
Until a secret is registered (backtests, live-paper) nothing is scanned.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from types import TracebackType
from typing import Any

MASK = "***"
MIN_LENGTH = 6
"""Shorter values are not registered: masking every "abc" in the output would hide more than it protects."""

_values: tuple[str, ...] = ()
_encoded: tuple[bytes, ...] = ()
_escapes: tuple[str, ...] = ()
"""The values' JSON-escaped forms that differ from the values (a quote, a backslash, a control character)."""


def register(*values: str) -> None:
    """Scrub these values (stripped) from everything the process writes from now on."""
    global _values, _encoded, _escapes
    known = set(_values)
    known.update(v.strip() for v in values if len(v.strip()) >= MIN_LENGTH)
    _values = tuple(sorted(known, key=len, reverse=True))  # a longer secret first: one containing another
    # as written in a JSON line too: a quote, a backslash or a control character is escaped there
    _escapes = tuple(e for v in _values if (e := _escaped(v)) != v)
    _encoded = tuple(v.encode() for v in (*_values, *_escapes))
    if _values:
        _install_hooks()


def _escaped(value: str) -> str:
    """`value` as it stands inside a JSON string (orjson's and json's alike: UTF-8 kept, `"` and `\\` escaped)."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def forget() -> None:
    """Tests only: the next process-like scope starts with no secrets known."""
    global _values, _encoded, _escapes
    _values, _encoded, _escapes = (), (), ()


def active() -> bool:
    return bool(_values)


def scrub(text: str) -> str:
    for value in _values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def scrub_bytes(data: bytes) -> bytes:
    """`scrub` for a serialised line or file (UTF-8), unchanged (the same object) when it holds no secret;
    a secret as a JSON string holds it (escaped) is masked too."""
    if not holds_secret(data):
        return data
    text = data.decode()
    for escaped in _escapes:
        if escaped in text:
            text = text.replace(escaped, MASK)
    return scrub(text).encode()


def holds_secret(data: bytes) -> bool:
    """A cheap test on a serialised line (raw or JSON-escaped): does it need scrubbing at all?"""
    return any(value in data for value in _encoded)


_make_record = logging.getLogRecordFactory()


def _scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """The standard library's records (asyncio's "Task exception was never retrieved", aiohttp's), whatever
    handler takes them, added before or after: the message and the traceback are rendered at creation,
    scrubbed, and the record carries the result (a formatter uses a record's `exc_text` when it has one)."""
    record = _make_record(*args, **kwargs)
    if _values:
        try:
            record.msg, record.args = scrub(record.getMessage()), None
        except Exception:  # a malformed call: the handler reports it as it would have, not the caller
            record.msg = scrub(str(record.msg))
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
    return record


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    sys.stderr.write(scrub("".join(traceback.format_exception(kind, exc, tb))))


class _ScrubbingStream:
    """`sys.stdout` and `sys.stderr` once a secret is known: every `print` (the preflight's lines, the result
    table, a one-line error) passes `scrub`; everything else is the stream's own."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(scrub(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _install_hooks() -> None:
    sys.excepthook = _excepthook
    logging.setLogRecordFactory(_scrubbed_record)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _ScrubbingStream):
            setattr(sys, name, _ScrubbingStream(stream))
