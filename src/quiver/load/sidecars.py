"""Rows of the sidecar tables that describe a dataset: ``_dlt_loads``, ``_dlt_version`` and
``_dlt_pipeline_state`` (dlt's column names and types, so dlt's tooling can read them)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pyarrow as pa

from quiver.schema.model import ENGINE_VERSION, Schema
from quiver.schema.row_ids import random_row_ids

_TIMESTAMP = pa.timestamp("us", "UTC")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def loads_row(schema: Schema, load_id: str) -> pa.Table:
    """The ``_dlt_loads`` row that marks a package as completely loaded (status 0)."""
    return pa.table(
        {
            "load_id": pa.array([load_id], pa.string()),
            "schema_name": pa.array([schema.name], pa.string()),
            "status": pa.array([0], pa.int64()),
            "inserted_at": pa.array([_now()], _TIMESTAMP),
            "schema_version_hash": pa.array([schema.version_hash], pa.string()),
        }
    )


def version_row(schema: Schema) -> pa.Table:
    """A ``_dlt_version`` row holding the whole schema document as JSON."""
    return pa.table(
        {
            "version": pa.array([schema.version], pa.int64()),
            "engine_version": pa.array([ENGINE_VERSION], pa.int64()),
            "inserted_at": pa.array([_now()], _TIMESTAMP),
            "schema_name": pa.array([schema.name], pa.string()),
            "version_hash": pa.array([schema.version_hash], pa.string()),
            "schema": pa.array([json.dumps(schema.to_dict(), default=str)], pa.string()),
        }
    )


def state_row(state_doc: dict[str, Any], load_id: str) -> pa.Table:
    """A ``_dlt_pipeline_state`` row from the state document extract put in the package."""
    created_at = state_doc.get("created_at")
    created = datetime.datetime.fromisoformat(created_at) if isinstance(created_at, str) else _now()
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.UTC)
    return pa.table(
        {
            "version": pa.array([int(state_doc.get("version", 0))], pa.int64()),
            "engine_version": pa.array([int(state_doc.get("engine_version", 4))], pa.int64()),
            "pipeline_name": pa.array([state_doc.get("pipeline_name")], pa.string()),
            "state": pa.array([state_doc.get("state")], pa.string()),
            "created_at": pa.array([created], _TIMESTAMP),
            "version_hash": pa.array([state_doc.get("version_hash")], pa.string()),
            "_dlt_load_id": pa.array([load_id], pa.string()),
            "_dlt_id": random_row_ids(1),
        }
    )
