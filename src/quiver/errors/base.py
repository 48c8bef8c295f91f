"""The root of the exception tree and the helpers every area uses."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any


class QuiverError(Exception):
    """Root of every error raised by quiver."""

    #: Whether retrying the same operation may succeed (transient I/O, commit conflicts).
    retryable: bool = False

    def __str__(self) -> str:
        # A message may quote a value or another error's text: known secrets become ***.
        return filter_message(super().__str__())


class NotSupportedYet(QuiverError, NotImplementedError):
    """An argument that dlt has and quiver accepts, but does not act on yet.

    Raised rather than ignoring the argument: a pipeline that silently skips ``refresh=...``
    would keep data the user asked to drop.

    Attributes:
        parameter: the argument, e.g. ``"refresh"`` or ``"run(staging)"``.
    """

    def __init__(self, parameter: str, what_it_would_do: str, instead: str) -> None:
        self.parameter = parameter
        super().__init__(
            f"{parameter} is not supported yet; it would {what_it_would_do}. Hint: {instead}"
        )


#: Applied to messages that quote another error's text; quiver.configuration.masking adds the
#: secret masking here (errors sit below configuration, so they cannot import it).
MESSAGE_FILTERS: list[Callable[[str], str]] = []


def filter_message(text: str) -> str:
    """``text`` after every registered message filter (known secrets become ``***``)."""
    for message_filter in MESSAGE_FILTERS:
        text = message_filter(text)
    return text


def did_you_mean(given: Any, choices: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the choice closest to ``given``, else ``""``."""
    close = difflib.get_close_matches(str(given), list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def short_repr(value: Any, limit: int = 120) -> str:
    """``repr(value)`` cut to ``limit`` characters: one huge value must not flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InternalError(QuiverError, RuntimeError):
    """A bug in quiver (an ``AssertionError``, ``KeyError``, ... in its own code); never bad data.

    At load the package is not aborted: it stays pending, so that a fixed quiver loads it. At
    normalize (which never touched the destination) it is moved aside to ``failed/`` and
    ``Pipeline.retry_failed_package`` loads it with a fixed quiver.

    Attributes:
        step: what quiver was doing, e.g. ``"load"``.
        load_id: the package, if any.
        exception: the original exception (also ``__cause__``).
    """

    def __init__(
        self,
        step: str,
        where: str,
        load_id: str | None,
        exception: BaseException,
        *,
        package_fate: str = "the package stays pending",
    ) -> None:
        self.step = step
        self.load_id = load_id
        self.exception = exception
        package = f" of package {load_id}" if load_id else ""
        super().__init__(
            f"Step {step!r} hit a bug in quiver while {where}{package}: "
            f"{type(exception).__name__}: {exception}. Hint: this is not a problem with your "
            f"data and {package_fate}; please report it to quiver's issue tracker with the "
            "traceback."
        )


class MissingDependencyError(QuiverError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the package {package!r}, which is not installed. "
            f"Hint: pip install 'quiver[{extra}]'."
        )


class StateNotAvailable(QuiverError, RuntimeError):
    """State was asked for outside of a pipeline (no active pipeline, no extract running)."""
