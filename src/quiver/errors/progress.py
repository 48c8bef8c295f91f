"""Errors of progress collectors (``quiver.progress``)."""

from __future__ import annotations

from typing import Any

from quiver.errors.base import QuiverError, did_you_mean, short_repr

#: The collectors ``progress=`` accepts by name.
COLLECTOR_NAMES = ("log", "tqdm", "enlighten", "alive_progress")


class UnknownProgressCollector(QuiverError, ValueError):
    """``progress=`` names no collector (dlt raises ``ValueError`` here too).

    Attributes:
        value: what was given.
    """

    def __init__(self, value: Any) -> None:
        self.value = value
        if isinstance(value, str):
            what = f"progress={value!r} names no progress collector.{did_you_mean(value, COLLECTOR_NAMES)}"
        else:
            what = (
                f"progress={short_repr(value)} is a {type(value).__name__}, not a collector "
                "or a collector's name."
            )
        super().__init__(
            f"{what} Hint: use one of {', '.join(repr(n) for n in COLLECTOR_NAMES)} or a "
            "quiver.progress collector object such as quiver.progress.log(log_period=10)."
        )


class InvalidProgressOption(QuiverError, ValueError):
    """A progress collector got an option value it cannot use."""

    def __init__(self, collector: str, option: str, value: Any, expected: str) -> None:
        self.option = option
        self.value = value
        super().__init__(
            f"quiver.progress.{collector}({option}={short_repr(value)}) is not valid: "
            f"{option} must be {expected}. Hint: leave {option} out to use the default."
        )
