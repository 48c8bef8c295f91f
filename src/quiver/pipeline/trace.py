"""The run trace: what the last ``run()`` (or ``extract``/``normalize``/``load``) did.

``pipeline.last_trace`` is a :class:`PipelineTrace` with one :class:`PipelineStepTrace` per
step: when it started and finished, its info (``ExtractInfo``, ``NormalizeInfo``,
``LoadInfo``: row counts per table, load ids, packages) or its error (exception type and
message, secrets masked). ``run()`` records the steps ``extract``, ``normalize``, ``load`` and
``run``; a step called on its own is appended to the previous trace, as in dlt. The trace is
written to ``<working folder>/trace.json`` after every traced call, so another process reads it
with ``quiver.attach(name).last_trace``. (dlt pickles its trace to ``trace.pickle``; quiver
writes JSON that any tool can read.)
"""

from __future__ import annotations

import datetime
import functools
import json
import re
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from quiver.configuration import masking
from quiver.errors import PipelineStepFailed
from quiver.package.storage import write_json
from quiver.pipeline.infos import ExtractInfo, LoadInfo, NormalizeInfo, combine_normalize_infos
from quiver.progress import Collector

TRACE_FILE = "trace.json"
TRACE_ENGINE_VERSION = 1
#: A trace keeps this many steps when single steps are appended to it (dlt's limit).
MAX_STEPS = 100
MASK = "***"

StepInfoType = ExtractInfo | NormalizeInfo | LoadInfo
_INFO_TYPES: dict[str, type[ExtractInfo] | type[NormalizeInfo] | type[LoadInfo]] = {
    "ExtractInfo": ExtractInfo,
    "NormalizeInfo": NormalizeInfo,
    "LoadInfo": LoadInfo,
}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: Any) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(value) if isinstance(value, str) else None


# ----------------------------------------------------------------------------- masking
#: ``scheme://user:password@host`` → the password.
_URL_PASSWORD = re.compile(r"(?P<keep>[a-zA-Z][\w+.-]*://[^/\s:@]+:)[^@\s/]+@")
#: ``aws_secret_access_key='...'``, ``"password": "..."`` and the like → the value.
_SECRET_ASSIGNMENT = re.compile(
    r"(?P<keep>(?:secret[\w]*|[\w]*_secret|password|passwd|[\w]*token|api_key|private_key)"
    r"['\"]?\s*[:=]\s*['\"]?)(?P<value>[^'\"\s,;}]+)",
    re.IGNORECASE,
)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials replaced by ``***``.

    Masks the given secret values wherever they occur, passwords in URLs, and values assigned
    to secret-looking keys (``*secret*``, ``password``, ``*token``, ``api_key``).

    Examples:
        >>> mask_secrets("s3://key:hunter2@bucket/x failed; aws_secret_access_key=abc123")
        's3://key:***@bucket/x failed; aws_secret_access_key=***'
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    # Every secret resolved from configuration, also where a user's exception quotes it.
    text = masking.mask_text(text)
    text = _URL_PASSWORD.sub(lambda m: m.group("keep") + MASK + "@", text)
    return _SECRET_ASSIGNMENT.sub(lambda m: m.group("keep") + MASK, text)


def exception_traces(error: BaseException, secrets: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The error and its causes (outermost first) as plain dicts, messages masked.

    Each has ``exception_type`` (``module.Class``), ``message`` and, where the exception has
    them, ``step``, ``load_id``, ``table_name`` and ``is_terminal`` (not retryable).
    """
    secrets = list(secrets)
    traces: list[dict[str, Any]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        trace: dict[str, Any] = {
            "exception_type": f"{kind.__module__}.{kind.__qualname__}",
            "message": mask_secrets(str(current), secrets),
        }
        for attribute in ("step", "load_id", "table_name"):
            value = getattr(current, attribute, None)
            if isinstance(value, str):
                trace[attribute] = value
        if hasattr(current, "retryable"):
            trace["is_terminal"] = not current.retryable
        traces.append(trace)
        current = current.__cause__ or current.__context__
    return traces


# ------------------------------------------------------------------------------ traces
@dataclass
class PipelineStepTrace:
    """One step of a trace (dlt's ``PipelineStepTrace``).

    Attributes:
        span_id: a unique id of the step.
        step: ``"extract"``, ``"normalize"``, ``"load"`` or ``"run"``.
        started_at: when the step started (UTC).
        finished_at: when it ended.
        step_info: what it did (``ExtractInfo``, ``NormalizeInfo``, ``LoadInfo``); for a
            failed step, what it completed before failing, if anything.
        step_exception: for a failed step, ``"<ExceptionType>: <message>"`` (masked).
        exception_traces: for a failed step, the exception and its causes as dicts.
    """

    span_id: str
    step: str
    started_at: datetime.datetime
    finished_at: datetime.datetime | None = None
    step_info: StepInfoType | None = None
    step_exception: str | None = None
    exception_traces: list[dict[str, Any]] | None = None

    @property
    def duration(self) -> float | None:
        """Seconds the step took (quiver only; dlt users subtract the two times)."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def asstr(self, verbosity: int = 0) -> str:
        status = "FAILED" if self.step_exception else "COMPLETED"
        took = f"{self.duration:.2f} seconds" if self.duration is not None else "---"
        text = f"Step {self.step} {status} in {took}."
        if self.step_exception:
            text += f"\nFailed due to: {self.step_exception}"
        if self.step_info is not None:
            text += f"\n{self.step_info}"
        if verbosity > 0:
            text += f"\nspan id: {self.span_id}"
        return text

    def __str__(self) -> str:
        return self.asstr()

    def asdict(self) -> dict[str, Any]:
        """A dict of plain values; the info under ``<step>_info`` as dlt names it."""
        document: dict[str, Any] = {
            "span_id": self.span_id,
            "step": self.step,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "step_exception": self.step_exception,
            "exception_traces": self.exception_traces,
        }
        if self.step_info is not None:
            document[f"{self.step}_info"] = self.step_info.asdict()
        return document

    def to_document(self) -> dict[str, Any]:
        info = self.step_info
        return {
            "span_id": self.span_id,
            "step": self.step,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "step_info_type": type(info).__name__ if info is not None else None,
            "step_info": info.to_document() if info is not None else None,
            "step_exception": self.step_exception,
            "exception_traces": self.exception_traces,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PipelineStepTrace:
        info_type = _INFO_TYPES.get(document.get("step_info_type") or "")
        info_document = document.get("step_info")
        return cls(
            span_id=document["span_id"],
            step=document["step"],
            started_at=_time(document["started_at"]) or _now(),
            finished_at=_time(document.get("finished_at")),
            step_info=info_type.from_document(info_document)
            if info_type is not None and info_document
            else None,
            step_exception=document.get("step_exception"),
            exception_traces=document.get("exception_traces"),
        )


@dataclass
class PipelineTrace:
    """The trace of a run: its steps, in order (dlt's ``PipelineTrace``).

    Attributes:
        transaction_id: a unique id of the trace.
        pipeline_name: the pipeline.
        started_at: when the first step started.
        steps: the steps, oldest first.
        finished_at: when the last step ended.
        engine_version: the version of the trace document.
    """

    transaction_id: str
    pipeline_name: str
    started_at: datetime.datetime
    steps: list[PipelineStepTrace] = field(default_factory=list)
    finished_at: datetime.datetime | None = None
    engine_version: int = TRACE_ENGINE_VERSION

    def last_pipeline_step_trace(self, step_name: str) -> PipelineStepTrace | None:
        """The latest step named ``step_name``, or ``None``."""
        matching = [step for step in self.steps if step.step == step_name]
        return max(matching, key=lambda step: step.started_at) if matching else None

    def _last_info(self, step_name: str, kind: type[Any]) -> Any:
        step = self.last_pipeline_step_trace(step_name)
        return step.step_info if step and isinstance(step.step_info, kind) else None

    @property
    def last_extract_info(self) -> ExtractInfo | None:
        """The info of the latest extract step (rows per table, load ids)."""
        return cast(ExtractInfo | None, self._last_info("extract", ExtractInfo))

    @property
    def last_normalize_info(self) -> NormalizeInfo | None:
        """The info of the latest normalize step; ``.row_counts`` has rows per table."""
        return cast(NormalizeInfo | None, self._last_info("normalize", NormalizeInfo))

    @property
    def last_load_info(self) -> LoadInfo | None:
        """The info of the latest load step (packages, jobs, metrics)."""
        return cast(LoadInfo | None, self._last_info("load", LoadInfo))

    def asstr(self, verbosity: int = 0) -> str:
        failed = bool(self.steps) and self.steps[-1].step_exception is not None
        took = (
            f"{(self.finished_at - self.started_at).total_seconds():.2f} seconds"
            if self.finished_at
            else "---"
        )
        text = (
            f"Run started at {self.started_at} and {'FAILED' if failed else 'COMPLETED'} in "
            f"{took} with {len(self.steps)} steps."
        )
        if self.steps:
            text += "\n" + "\n\n".join(step.asstr(verbosity) for step in self.steps)
        return text

    def __str__(self) -> str:
        return self.asstr()

    def asdict(self) -> dict[str, Any]:
        """A dict of plain values; the ``run`` step is left out unless it failed (as dlt)."""
        return {
            "transaction_id": self.transaction_id,
            "pipeline_name": self.pipeline_name,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "engine_version": self.engine_version,
            "steps": [
                step.asdict()
                for step in self.steps
                if step.step != "run" or step.step_exception is not None
            ],
        }

    def to_document(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "pipeline_name": self.pipeline_name,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "engine_version": self.engine_version,
            "steps": [step.to_document() for step in self.steps],
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PipelineTrace:
        return cls(
            transaction_id=document["transaction_id"],
            pipeline_name=document["pipeline_name"],
            started_at=_time(document["started_at"]) or _now(),
            steps=[PipelineStepTrace.from_document(s) for s in document.get("steps", [])],
            finished_at=_time(document.get("finished_at")),
            engine_version=int(document.get("engine_version", TRACE_ENGINE_VERSION)),
        )


# ---------------------------------------------------------------------------- recorder
class RunTracer:
    """Records the steps of the current call into a trace and saves the last trace.

    Args:
        working_dir: the pipeline's working folder (``trace.json`` goes there).
        pipeline_name: the pipeline.
        collector: gets the trace hooks (``on_start_trace`` ...).
        secrets: the credential values to mask in error messages (called when a step fails).
    """

    def __init__(
        self,
        working_dir: Path,
        pipeline_name: str,
        collector: Collector,
        secrets: Callable[[], list[str]],
    ) -> None:
        self._path = working_dir / TRACE_FILE
        self._pipeline_name = pipeline_name
        self._collector = collector
        self._secrets = secrets
        self._current: PipelineTrace | None = None
        self._last: PipelineTrace | None = None

    @property
    def last_trace(self) -> PipelineTrace | None:
        """The last trace: in memory, else read from the working folder (``None`` if none)."""
        if self._last is None:
            self._last = load_trace(self._path)
        return self._last

    def call(self, step: str, pipeline: Any, call: Callable[[], Any]) -> Any:
        """Run ``call`` as the step ``step``; a call outside any trace starts a new trace."""
        is_new = self._current is None
        if self._current is None:
            self._current = PipelineTrace(uuid.uuid4().hex, self._pipeline_name, _now())
            self._hook("on_start_trace", self._current, step, pipeline)
        trace = self._current
        step_trace = PipelineStepTrace(uuid.uuid4().hex, step, _now())
        self._hook("on_start_trace_step", trace, step, pipeline)
        outcome: Any = None
        try:
            outcome = call()
            return outcome
        except Exception as error:
            outcome = error
            raise
        finally:
            try:
                self._end_step(trace, step_trace, outcome, pipeline)
                if is_new:
                    trace.finished_at = _now()
                    self._hook("on_end_trace", trace, pipeline, False)
                    self._last = merge_traces(self.last_trace, trace)
                    save_trace(self._path, self._last)
            finally:
                if is_new:
                    self._current = None

    def _end_step(
        self, trace: PipelineTrace, step_trace: PipelineStepTrace, outcome: Any, pipeline: Any
    ) -> None:
        if isinstance(outcome, BaseException):
            traces = exception_traces(outcome, self._secrets())
            step_trace.exception_traces = traces
            step_trace.step_exception = f"{type(outcome).__name__}: {traces[0]['message']}"
            info = outcome.step_info if isinstance(outcome, PipelineStepFailed) else None
        else:
            info = outcome
        if isinstance(info, ExtractInfo | NormalizeInfo | LoadInfo):
            step_trace.step_info = info
        if step_trace.step == "run" and isinstance(info, LoadInfo):
            # quiver extra: run()'s LoadInfo reaches the extract and normalize of this run.
            info.extract_info = trace.last_extract_info
            info.normalize_info = combine_normalize_infos(
                [s.step_info for s in trace.steps if isinstance(s.step_info, NormalizeInfo)]
            )
        step_trace.finished_at = _now()
        trace.steps.append(step_trace)
        self._hook("on_end_trace_step", trace, step_trace, pipeline, info, False)

    def _hook(self, name: str, *args: Any) -> None:
        """Call a collector's trace hook; a failing hook warns and never fails the run."""
        try:
            getattr(self._collector, name)(*args)
        except Exception as error:
            warnings.warn(
                f"{name} of progress collector {type(self._collector).__name__} failed: "
                f"{type(error).__name__}: {error}",
                stacklevel=3,
            )


def merge_traces(last: PipelineTrace | None, new: PipelineTrace) -> PipelineTrace:
    """A trace of one step (``extract()`` alone, say) joins the previous trace; others replace it."""
    if last is None or len(new.steps) > 1 or last.pipeline_name != new.pipeline_name:
        return new
    last.steps = (last.steps + new.steps)[-MAX_STEPS:]
    last.finished_at = new.finished_at
    return last


def save_trace(path: Path, trace: PipelineTrace) -> None:
    """Write the trace as JSON (atomically); a failure warns and never fails the run."""
    try:
        write_json(path, trace.to_document())
    except (OSError, TypeError, ValueError) as error:
        warnings.warn(f"Could not save the run trace to {path}: {error}", stacklevel=2)


def load_trace(path: Path) -> PipelineTrace | None:
    """The trace in ``path``, or ``None`` if there is none (or it cannot be read: warns)."""
    if not path.exists():
        return None
    try:
        return PipelineTrace.from_document(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        warnings.warn(f"Could not read the run trace {path}: {error}", stacklevel=2)
        return None


_F = TypeVar("_F", bound=Callable[..., Any])


def traced(step: str) -> Callable[[_F], _F]:
    """Record calls of a Pipeline method as the trace step ``step``.

    The pipeline must have a :class:`RunTracer` in ``_tracer``.
    """

    def decorate(method: _F) -> _F:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            return self._tracer.call(step, self, lambda: method(self, *args, **kwargs))

        return cast(_F, wrapper)

    return decorate
