"""Pipeline state: versioning, the blob sent to the destination, and the state user code sees.

The state is a dict (dlt's shape)::

    {_state_version, _state_engine_version, _version_hash, pipeline_name, dataset_name,
     default_schema_name, schema_names, destination_type, destination_name,
     sources: {<source>: {<user keys>..., resources: {<resource>: {<user keys>...,
                                                     incremental: {<cursor_path>: {...}}}}}},
     _local: {first_run, _last_extracted_hash, _last_extracted_at, ...}}

``_local`` never leaves the machine. ``_version_hash`` is a hash of everything else and
``_state_version`` grows by one whenever that hash changes.

During ``extract`` resources read and write a working copy (:func:`managed_state`); the
pipeline adopts it only when the whole step succeeded, so a failed extract leaves the state
exactly as it was.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import copy
import datetime
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from quiver.common import typed_json
from quiver.exceptions import QuiverError

STATE_ENGINE_VERSION = 4
_VERSION_KEYS = ("_state_version", "_state_engine_version", "_version_hash", "_local")


class StateNotAvailable(QuiverError, RuntimeError):
    """State was asked for outside of a pipeline (no active pipeline, no extract running)."""


# ------------------------------------------------------------------------------- versioning
def version_hash(state: dict[str, Any]) -> str:
    """Base64 sha3-256 of the state's typed JSON without ``_local`` and the version fields."""
    content = {k: v for k, v in state.items() if k not in _VERSION_KEYS}
    digest = hashlib.sha3_256(typed_json.dumpb(content, sort_keys=True)).digest()
    return base64.b64encode(digest).decode("ascii")


def bump_version_if_modified(state: dict[str, Any]) -> bool:
    """Recompute ``_version_hash``; bump ``_state_version`` if the content changed."""
    new_hash = version_hash(state)
    state.setdefault("_state_engine_version", STATE_ENGINE_VERSION)
    if state.get("_version_hash") == new_hash:
        return False
    state["_state_version"] = int(state.get("_state_version", 0)) + 1
    state["_version_hash"] = new_hash
    return True


def compress_state(state: dict[str, Any]) -> str:
    """The ``state`` blob of ``_dlt_pipeline_state``: base64(zlib(typed JSON without _local))."""
    content = {k: v for k, v in state.items() if k != "_local"}
    return base64.b64encode(zlib.compress(typed_json.dumpb(content), level=9)).decode("ascii")


def decompress_state(blob: str) -> dict[str, Any]:
    """Inverse of :func:`compress_state`; also accepts plain typed JSON (dlt does)."""
    try:
        raw = zlib.decompress(base64.b64decode(blob, validate=True))
    except (ValueError, zlib.error):
        raw = blob.encode("utf-8")
    decoded: dict[str, Any] = typed_json.loads(raw)
    return decoded


def state_document(state: dict[str, Any], created_at: datetime.datetime) -> dict[str, Any]:
    """The row the loader writes to ``_dlt_pipeline_state`` (without ``_dlt_load_id``/``_dlt_id``).

    ``created_at`` is an ISO 8601 string (UTC); ``state`` is the compressed blob.
    """
    return {
        "version": int(state.get("_state_version", 0)),
        "engine_version": int(state.get("_state_engine_version", STATE_ENGINE_VERSION)),
        "pipeline_name": state.get("pipeline_name"),
        "state": compress_state(state),
        "created_at": created_at.astimezone(datetime.UTC).isoformat(),
        "version_hash": state.get("_version_hash"),
    }


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
    from quiver.pipeline.factory import current_pipeline as active

    return active()


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
