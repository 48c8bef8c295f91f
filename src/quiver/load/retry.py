"""The one retry policy of the load step, and the one place that classifies errors.

Table commits and sidecar commits run through :meth:`RetryPolicy.run`. A retry is safe because
every commit carries its load id: a retried commit first asks the table whether the load id is
already there and does nothing if it is (exactly-once). Table formats do not retry; they raise
the retryable :class:`~quiver.errors.CommitConflictError` (or another error whose
``retryable`` attribute says so) and this policy decides.

Errors fall in four kinds (:func:`classify`):

* ``"transient"``: trying again may succeed. A :class:`~quiver.errors.QuiverError` whose
  ``retryable`` is true (commit conflicts, transient storage errors), ``ConnectionError``,
  ``TimeoutError`` and ``OSError``s with a network or remote-I/O ``errno``. Retried with
  backoff; when the attempts run out the package stays pending for the next run.
* ``"bug"``: ``AssertionError``, ``KeyError``, ``AttributeError``, ``TypeError``,
  ``NameError`` that are not quiver errors: a bug in quiver, never retried and never reported
  as bad data (the load step raises :class:`~quiver.errors.InternalError`; the package stays
  pending).
* ``"terminal"``: the data or the request is wrong and will fail the same way again: any
  other :class:`~quiver.errors.QuiverError` (``SchemaMismatchError``, ``MergeConfigError``,
  ...), ``ValueError`` and ``NotImplementedError`` (Arrow's ``ArrowInvalid``,
  ``ArrowTypeError`` and ``ArrowNotImplementedError`` included). The job fails and the package
  is aborted.
* ``"pending"``: anything else (a missing folder, a permission error, a full disk, an engine
  error quiver does not know): not retried now, the package stays pending so that a run after
  the cause is fixed loads it.

Errors that only carry another one (``NormalizeJobFailed``, ``LoadError``, ``InternalError``,
``PipelineStepFailed``) are classified by the error they carry. ``"terminal"`` and ``"bug"`` are
*deterministic* (:data:`DETERMINISTIC`): the same package fails the same way on every run, so
the pipeline moves it aside instead of retrying it forever (docs/bad-input.md, "Failed
packages").

Examples:
    >>> policy = RetryPolicy(attempts=3, base_delay=0.0)
    >>> calls = []
    >>> def flaky() -> str:
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("reset by peer")
    ...     return "done"
    >>> policy.run(flaky), len(calls)
    ('done', 3)
"""

from __future__ import annotations

import datetime
import errno
import logging
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

import pyarrow as pa

from quiver.errors import (
    InternalError,
    InvalidRetryPolicy,
    LoadError,
    NormalizeJobFailed,
    PipelineStepFailed,
    QuiverError,
)
from quiver.errors.base import filter_message
from quiver.package.storage import PackageFailure, Stage

__all__ = [
    "DETERMINISTIC",
    "ErrorKind",
    "RetryPolicy",
    "classify",
    "failure_record",
    "is_bug",
    "is_retryable",
    "is_terminal",
    "root_cause",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: What to do about an error: retry it, report a bug, fail the job, or leave the package pending.
ErrorKind = Literal["transient", "bug", "terminal", "pending"]
#: Kinds that fail the same way on every attempt: their package is moved aside, not retried.
DETERMINISTIC: Final[frozenset[ErrorKind]] = frozenset({"terminal", "bug"})

# errno values of failures that are about the network or the remote end, not about the request.
_TRANSIENT_ERRNOS: Final = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in (
            "ECONNRESET",
            "ECONNREFUSED",
            "ECONNABORTED",
            "ETIMEDOUT",
            "EPIPE",
            "EHOSTUNREACH",
            "EHOSTDOWN",
            "ENETUNREACH",
            "ENETDOWN",
            "ENETRESET",
            "EAGAIN",
            "EBUSY",
            # s3fs reports server errors (500, 503, unknown codes) as EIO / EREMOTEIO.
            "EIO",
            "EREMOTEIO",
        )
    )
    if code is not None
)

_BUG_CLASSES: Final = (AssertionError, KeyError, AttributeError, TypeError, NameError)
# Arrow's data errors subclass TypeError / ValueError / NotImplementedError: they are bad data.
_ARROW_DATA_ERRORS: Final = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


def root_cause(error: BaseException) -> BaseException:
    """The error that ``error`` carries, through quiver's wrappers (``error`` if none)."""
    while True:
        if isinstance(error, NormalizeJobFailed):
            carried: BaseException | None = error.cause
        elif isinstance(error, LoadError | InternalError | PipelineStepFailed):
            carried = error.exception
        else:
            return error
        if carried is None or carried is error:
            return error
        error = carried


def is_retryable(error: BaseException) -> bool:
    """Whether trying the same operation again may succeed (see the module docstring)."""
    if isinstance(error, LoadError):
        return error.retryable  # the loader decided, with the original error at hand
    error = root_cause(error)
    if isinstance(error, QuiverError):
        return error.retryable
    if isinstance(error, ConnectionError | TimeoutError):
        return True
    return isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS


def is_bug(error: BaseException) -> bool:
    """Whether the error is a bug in quiver rather than a problem with data or storage."""
    error = root_cause(error)
    if isinstance(error, (QuiverError, *_ARROW_DATA_ERRORS)):
        return False
    return isinstance(error, _BUG_CLASSES)


def is_terminal(error: BaseException) -> bool:
    """Whether the data or the request is wrong: retrying cannot help and the job fails."""
    return classify(error) == "terminal"


def classify(error: BaseException) -> ErrorKind:
    """The kind of an error: ``"transient"``, ``"bug"``, ``"terminal"`` or ``"pending"``."""
    if is_retryable(error):
        return "transient"
    error = root_cause(error)
    if is_bug(error):
        return "bug"
    if isinstance(error, (QuiverError, ValueError, NotImplementedError, *_ARROW_DATA_ERRORS)):
        return "terminal"
    return "pending"


def failure_record(step: str, stage: Stage, error: BaseException) -> PackageFailure:
    """The ``failure.json`` of a package that ``error`` failed at ``step`` (secrets masked).

    Args:
        step: ``"normalize"`` or ``"load"``.
        stage: the stage the package was in: where a retry puts it back.
        error: the error as raised by the step (its carried error is classified).
    """
    return {
        "step": step,
        "kind": classify(error),
        "stage": stage,
        "exception_type": type(error).__name__,
        "message": filter_message(str(error)),
        "traceback": filter_message("".join(traceback.format_exception(error))),
        "failed_at": datetime.datetime.now(datetime.UTC).isoformat(),
    }


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently an operation is tried again after a transient error.

    The wait before attempt ``n + 1`` is ``min(max_delay, base_delay * 2 ** (n - 1))``, times a
    random factor in ``[1 - jitter, 1 + jitter]`` so that writers that conflicted once do not
    collide again in lockstep.

    Attributes:
        attempts: Tries in all, the first included (at least 1).
        base_delay: Seconds to wait after the first failure.
        max_delay: The longest wait between two attempts, in seconds.
        jitter: The relative spread of each wait, from 0 (none) to 1.
    """

    attempts: int = 10
    base_delay: float = 0.05
    max_delay: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidRetryPolicy(
                f"RetryPolicy(attempts={self.attempts}) must try at least once. "
                "Hint: use attempts=1 for no retries."
            )
        if self.base_delay < 0 or self.max_delay < 0:
            raise InvalidRetryPolicy(
                f"RetryPolicy delays must not be negative (base_delay={self.base_delay}, "
                f"max_delay={self.max_delay}). Hint: use 0 for no wait."
            )
        if not 0 <= self.jitter <= 1:
            raise InvalidRetryPolicy(
                f"RetryPolicy(jitter={self.jitter}) must be between 0 and 1. Hint: 0.5 spreads "
                "each wait by +-50%."
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delay = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return delay * random.uniform(1 - self.jitter, 1 + self.jitter)

    def run(self, operation: Callable[[], T], *, what: str = "operation") -> T:
        """Run ``operation``; retry it while it raises an error :func:`is_retryable` accepts.

        Args:
            operation: The operation; it must be safe to repeat (a commit tagged with its load id
                that checks for it first).
            what: What the operation does, for the log line of each retry.

        Returns:
            What ``operation`` returned.

        Raises:
            Exception: The operation's error, unchanged, when it is not retryable or the last
                attempt failed.
        """
        attempt = 1
        while True:
            try:
                return operation()
            except Exception as error:
                if attempt >= self.attempts or not is_retryable(error):
                    raise
                wait = self.delay(attempt)
                logger.info(
                    "%s failed (attempt %d of %d) with %s: %s; retrying in %.2f s",
                    what,
                    attempt,
                    self.attempts,
                    type(error).__name__,
                    error,
                    wait,
                )
                time.sleep(wait)
                attempt += 1
