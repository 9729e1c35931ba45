"""The project's exception tree. Exceptions are for bugs and bad input; business refusals are events.

::

    LaptopAgentsError
    ├── InputError (ValueError)          bad input from the user: the CLI prints one line, exit 2
    │   ├── ConfigError                  a config value is unknown or out of range
    │   ├── DataError                    a data source is missing or unreadable
    │   │   └── CandleError              one candle breaks the OHLC rules
    │   ├── CheckpointError              a state file is torn, corrupt or from an unknown version
    │   └── PreflightError               live-exchange: the venue, the keys or the clock are not ready
    └── InvariantError (AssertionError)  the core caught itself in an impossible state: a bug, fail fast
        └── IllegalTransition            an order or position state machine was asked for a forbidden move
"""

from __future__ import annotations


class LaptopAgentsError(Exception):
    """Root of every exception this package raises on purpose."""


class StrategyError(LaptopAgentsError):
    """A strategy raised, or returned something that is not a sequence of intents. The message names the
    strategy, the candle and the exception, in one line."""


class InputError(LaptopAgentsError, ValueError):
    """Bad input from the user. `str(exc)` is one line that names the field and the fix."""


class ConfigError(InputError):
    """One or more config values are invalid; `lines` holds one message per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


class DataError(InputError):
    """A market-data source is missing, unreadable or malformed."""


class CandleError(DataError):
    """A candle breaks the OHLC rules (NaN, non-positive price, high/low not enclosing open/close)."""


class CheckpointError(InputError):
    """A checkpoint file cannot be trusted; it is refused, never silently replaced."""


class PreflightError(InputError):
    """A live-exchange preflight check failed; nothing was sent. The message names the check and the fix."""


class InvariantError(LaptopAgentsError, AssertionError):
    """An internal invariant failed (for example the accounting identity). Always a bug."""


class IllegalTransition(InvariantError):
    """A state machine was asked for a transition its table does not allow."""
