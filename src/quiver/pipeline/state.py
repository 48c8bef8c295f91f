"""Pipeline state: versioning, the blob sent to the destination, and the state user code sees.

The state is a :class:`~quiver.schema.documents.PipelineState` (dlt's shape)::

    {_state_version, _state_engine_version, _version_hash, pipeline_name, dataset_name,
     default_schema_name, schema_names, destination_type, destination_name,
     sources: {<source>: {<user keys>..., resources: {<resource>: {<user keys>...,
                                                     incremental: {<cursor_path>: {...}}}}}},
     _local: {first_run, _last_extracted_hash, _last_extracted_at, ...}}

``_local`` never leaves the machine. ``_version_hash`` is a hash of everything else and
``_state_version`` grows by one whenever that hash changes.

During ``extract`` resources read and write a working copy
(:func:`quiver.extract.state.managed_state`); the pipeline adopts it only when the whole step
succeeded, so a failed extract leaves the state exactly as it was.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import zlib
from collections.abc import Mapping
from typing import Any, cast

from quiver.package import typed_json
from quiver.schema.documents import PipelineState, StateRow

STATE_ENGINE_VERSION = 4
_VERSION_KEYS = ("_state_version", "_state_engine_version", "_version_hash", "_local")


# ------------------------------------------------------------------------------- versioning
def version_hash(state: Mapping[str, Any]) -> str:
    """Base64 sha3-256 of the state's typed JSON without ``_local`` and the version fields."""
    content = {k: v for k, v in state.items() if k not in _VERSION_KEYS}
    digest = hashlib.sha3_256(typed_json.dumpb(content, sort_keys=True)).digest()
    return base64.b64encode(digest).decode("ascii")


def bump_version_if_modified(state: PipelineState) -> bool:
    """Recompute ``_version_hash``; bump ``_state_version`` if the content changed."""
    new_hash = version_hash(state)
    state.setdefault("_state_engine_version", STATE_ENGINE_VERSION)
    if state.get("_version_hash") == new_hash:
        return False
    state["_state_version"] = int(state["_state_version"]) + 1
    state["_version_hash"] = new_hash
    return True


def compress_state(state: Mapping[str, Any]) -> str:
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


def state_document(state: PipelineState, created_at: datetime.datetime) -> StateRow:
    """The row the loader writes to ``_dlt_pipeline_state`` (without ``_dlt_load_id``/``_dlt_id``).

    ``created_at`` is an ISO 8601 string (UTC); ``state`` is the compressed blob. Call it after
    :func:`bump_version_if_modified`, which sets ``_version_hash``.
    """
    return {
        "version": int(state["_state_version"]),
        "engine_version": int(state.get("_state_engine_version", STATE_ENGINE_VERSION)),
        "pipeline_name": state["pipeline_name"],
        "state": compress_state(state),
        "created_at": created_at.astimezone(datetime.UTC).isoformat(),
        "version_hash": state.get("_version_hash") or version_hash(state),
    }


def as_pipeline_state(document: dict[str, Any]) -> PipelineState:
    """A state that user code had as a plain dict, typed again.

    Resources read and write the working copy of the state as a dict (they add their own keys
    under ``sources``); the keys of :class:`PipelineState` are the ones the pipeline put there.
    """
    return cast(PipelineState, document)
