"""The state resources see while they run: context variables set by the pipeline's extract.

The pipeline layer sits above extract, so extract cannot ask it for "the active pipeline";
instead :mod:`quiver.pipeline.factory` registers itself here (:func:`register_pipeline_factory`)
when it is imported, and resources find the running or active pipeline through this module.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from quiver.errors import StateNotAvailable

__all__ = [
    "StateNotAvailable",
    "current_pipeline",
    "current_state",
    "default_pipeline",
    "in_resource",
    "in_source",
    "managed_state",
    "register_pipeline_factory",
    "reset_resource_state",
    "reset_source_state",
    "resource_section",
    "resource_state",
    "source_section",
    "source_state",
]

# The pipeline layer registers these when it is imported (it always is: ``quiver/__init__``).
_active_pipeline: Callable[[], Any] = lambda: None  # noqa: E731
_default_pipeline: Callable[[], Any] | None = None


def register_pipeline_factory(active: Callable[[], Any], default: Callable[[], Any]) -> None:
    """Called by :mod:`quiver.pipeline.factory`: how to find the active and a default pipeline."""
    global _active_pipeline, _default_pipeline
    _active_pipeline = active
    _default_pipeline = default


def default_pipeline() -> Any:
    """The active pipeline, or a new default one (``quiver.pipeline()`` with no arguments)."""
    if _default_pipeline is None:
        raise StateNotAvailable(
            "No pipeline factory is registered. Hint: import quiver (not only quiver.extract)."
        )
    return _default_pipeline()


# ---------------------------------------------------------------------------- state sections
def sources_state(state: dict[str, Any]) -> dict[str, Any]:
    sources: dict[str, Any] = state.setdefault("sources", {})
    return sources


def source_section(state: dict[str, Any], source_name: str) -> dict[str, Any]:
    """``state["sources"][source_name]``, created if missing."""
    section: dict[str, Any] = sources_state(state).setdefault(source_name, {})
    return section


def resource_section(state: dict[str, Any], source_name: str, resource_name: str) -> dict[str, Any]:
    """``state["sources"][source]["resources"][resource]``, created if missing."""
    resources = source_section(state, source_name).setdefault("resources", {})
    section: dict[str, Any] = resources.setdefault(resource_name, {})
    return section


def reset_resource_state(state: dict[str, Any], source_name: str, resource_name: str) -> None:
    """Forget a resource's state (user keys and incremental cursors)."""
    source = sources_state(state).get(source_name)
    if source is not None:
        source.get("resources", {}).pop(resource_name, None)


def reset_source_state(state: dict[str, Any], source_name: str) -> None:
    """Forget a source's state, keeping an empty ``resources`` section (dlt's drop_sources)."""
    sources_state(state)[source_name] = {"resources": {}}


# ------------------------------------------------------------------- what user code sees
@dataclass
class _StateContext:
    state: dict[str, Any]
    pipeline: Any
    managed: bool


_context: contextvars.ContextVar[_StateContext | None] = contextvars.ContextVar(
    "quiver_state", default=None
)
_source_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "quiver_source", default=None
)
_resource_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "quiver_resource", default=None
)


@contextlib.contextmanager
def managed_state(state: dict[str, Any], pipeline: Any = None) -> Iterator[dict[str, Any]]:
    """Expose ``state`` (a working copy the caller owns) to resources while the block runs."""
    token = _context.set(_StateContext(state, pipeline, managed=True))
    try:
        yield state
    finally:
        _context.reset(token)


@contextlib.contextmanager
def in_source(source_name: str) -> Iterator[None]:
    """Resources evaluated in the block belong to ``source_name`` (the state section)."""
    token = _source_name.set(source_name)
    try:
        yield
    finally:
        _source_name.reset(token)


@contextlib.contextmanager
def in_resource(resource_name: str | None) -> Iterator[None]:
    """User code run in the block belongs to ``resource_name``."""
    token = _resource_name.set(resource_name)
    try:
        yield
    finally:
        _resource_name.reset(token)


def set_current_resource(resource_name: str | None) -> contextvars.Token[str | None]:
    """Mark the resource whose code runs next; cheaper than :func:`in_resource` in loops."""
    return _resource_name.set(resource_name)


def reset_current_resource(token: contextvars.Token[str | None]) -> None:
    _resource_name.reset(token)


def current_pipeline() -> Any:
    """The pipeline whose extract is running, else the active pipeline, else ``None``."""
    context = _context.get()
    if context is not None and context.pipeline is not None:
        return context.pipeline
    return _active_pipeline()


def current_state(*, writable: bool = True) -> dict[str, Any]:
    """The state resources read and write.

    Inside an extract this is the extract's working copy. Outside it (in a source function, or
    when a resource is iterated directly) it is a copy of the active pipeline's state, so
    reads work and writes are not kept.
    """
    context = _context.get()
    if context is not None:
        return context.state
    pipeline = current_pipeline()
    if pipeline is None:
        if writable:
            raise StateNotAvailable(
                "No pipeline is active and no extract is running, so there is no state to "
                "use. Hint: create a pipeline with quiver.pipeline(...) first, or run the "
                "resource through pipeline.run()/extract()."
            )
        return {}
    return copy.deepcopy(pipeline.state)


def current_source_name() -> str | None:
    name = _source_name.get()
    if name is not None:
        return name
    pipeline = current_pipeline()
    return None if pipeline is None else str(pipeline.default_schema_name)


def current_resource_name() -> str | None:
    return _resource_name.get()


def source_state(source_name: str | None = None) -> dict[str, Any]:
    """The state dict of the source being extracted (``state["sources"][<source>]``)."""
    name = source_name or current_source_name()
    if name is None:
        raise StateNotAvailable(
            "source_state() needs a source: call it inside a source or resource, or create a "
            "pipeline first (standalone resources use the pipeline's default schema name)."
        )
    return source_section(current_state(), name)


def resource_state(
    resource_name: str | None = None, source_name: str | None = None
) -> dict[str, Any]:
    """The state dict of a resource (``state["sources"][<source>]["resources"][<resource>]``).

    Without ``resource_name``, the resource whose code is running.
    """
    name = resource_name or current_resource_name()
    if name is None:
        raise StateNotAvailable(
            "resource_state() was called outside of a resource. Hint: call it inside the "
            "resource function, or pass the resource name."
        )
    source = source_name or current_source_name()
    if source is None:
        raise StateNotAvailable(
            f"resource_state({name!r}) has no source to look in. Hint: create a pipeline first."
        )
    return resource_section(current_state(), source, name)
