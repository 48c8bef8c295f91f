"""The sidecar tables that describe a dataset: ``_dlt_loads``, ``_dlt_version`` and
``_dlt_pipeline_state`` (dlt's column names and types, so dlt's tooling can read them).

They are kept **in the dataset's format**. :func:`open_sidecars` finds the form the dataset
already has — dlt's JSON-lines files (``<dataset>/_dlt_loads/<schema>__<load_id>.jsonl``, what
dlt 1.x writes next to Delta and Iceberg tables on a filesystem) or tables of a table format
(Delta, Iceberg, plain files) — so a dataset never ends up with two kinds of sidecars, and a
dataset that dlt wrote stays readable by dlt. A new dataset gets the format of the first
package's data tables (see :meth:`quiver.load.loader.Loader.sidecars`).

Reads are cheap by construction: the newest state of a pipeline is found from one projected,
filtered column (``_dlt_load_id`` of that pipeline's rows; formats skip files by statistics), its
load id is checked against ``_dlt_loads`` with a filter on ``load_id``, and the state blob is
read for that one row only (see docs/state.md for measured times).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from quiver.destinations.base import TableFormat
from quiver.destinations.location import StorageLocation
from quiver.schema.columns import LOADS_TABLE, STATE_TABLE, VERSION_TABLE
from quiver.schema.model import ENGINE_VERSION, Schema
from quiver.schema.row_ids import random_row_ids

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "DltFileSidecars",
    "RemoteState",
    "SidecarStore",
    "TableSidecars",
    "loads_row",
    "open_sidecars",
    "state_row",
    "version_row",
]

_TIMESTAMP = pa.timestamp("us", "UTC")
_STATE_COLUMNS = ("version", "engine_version", "pipeline_name", "state", "version_hash")
#: Load ids checked against ``_dlt_loads`` per read while looking for the newest loaded state.
_CANDIDATES_PER_READ = 32

#: A ``_dlt_pipeline_state`` row as read back: the state document plus ``_dlt_load_id``.
RemoteState = dict[str, Any]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# ------------------------------------------------------------------------------------- rows
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


# ------------------------------------------------------------------------------------ store
class SidecarStore(Protocol):
    """Where a dataset keeps its sidecars, and the reads and writes quiver needs of them.

    Every write is idempotent for its load id (a retried package writes nothing twice).
    """

    #: What the sidecars are, for messages: ``"delta tables"``, ``"dlt's JSON-lines files"``.
    description: str

    def has_loads(self) -> bool:
        """Whether the dataset has a ``_dlt_loads`` sidecar (at least one completed load)."""
        ...

    def write_version(self, schema: Schema, load_id: str) -> None:
        """Store the schema in ``_dlt_version`` unless its version hash is stored already."""
        ...

    def write_state(self, state_doc: dict[str, Any], schema: Schema, load_id: str) -> None:
        """Store the package's pipeline state in ``_dlt_pipeline_state``."""
        ...

    def write_load(self, schema: Schema, load_id: str) -> None:
        """Record the package as completely loaded in ``_dlt_loads`` (written last)."""
        ...

    def newest_state(self, pipeline_name: str) -> RemoteState | None:
        """The newest state row of the pipeline whose load id is in ``_dlt_loads``."""
        ...

    def newest_schema(self, schema_name: str) -> dict[str, Any] | None:
        """The newest stored schema document of that name (by ``inserted_at``)."""
        ...


class TableSidecars:
    """Sidecars as tables of a table format (Delta, Iceberg, plain files)."""

    def __init__(self, table_format: TableFormat) -> None:
        self.table_format = table_format
        self.description = f"{table_format.name} tables"

    def has_loads(self) -> bool:
        return self.table_format.table_exists(LOADS_TABLE)

    def write_version(self, schema: Schema, load_id: str) -> None:
        stored = self.table_format.read_table(
            VERSION_TABLE,
            ["version_hash"],
            where={"schema_name": schema.name, "version_hash": schema.version_hash},
        )
        if stored is None or stored.num_rows == 0:
            self.table_format.append_rows(VERSION_TABLE, version_row(schema), load_id)

    def write_state(self, state_doc: dict[str, Any], schema: Schema, load_id: str) -> None:
        self.table_format.append_rows(STATE_TABLE, state_row(state_doc, load_id), load_id)

    def write_load(self, schema: Schema, load_id: str) -> None:
        self.table_format.append_rows(LOADS_TABLE, loads_row(schema, load_id), load_id)

    def newest_state(self, pipeline_name: str) -> RemoteState | None:
        ids = self.table_format.read_table(
            STATE_TABLE, ["_dlt_load_id"], where={"pipeline_name": pipeline_name}
        )
        if ids is None or ids.num_rows == 0:
            return None
        candidates = sorted(set(ids["_dlt_load_id"].to_pylist()), key=_load_id_key, reverse=True)
        for batch in _chunks(candidates, _CANDIDATES_PER_READ):
            loads = self.table_format.read_table(
                LOADS_TABLE, ["load_id", "status"], where={"load_id": batch}
            )
            if loads is None:
                return None
            loaded = {
                load_id
                for load_id, status in zip(
                    loads["load_id"].to_pylist(), loads["status"].to_pylist(), strict=True
                )
                if status == 0
            }
            for load_id in batch:
                if load_id in loaded:
                    return self._state_row(pipeline_name, load_id)
        return None

    def _state_row(self, pipeline_name: str, load_id: str) -> RemoteState | None:
        rows = self.table_format.read_table(
            STATE_TABLE,
            [*_STATE_COLUMNS, "_dlt_load_id"],
            where={"pipeline_name": pipeline_name, "_dlt_load_id": load_id},
        )
        if rows is None or rows.num_rows == 0:
            return None
        return dict(max(rows.to_pylist(), key=lambda row: int(row["version"] or 0)))

    def newest_schema(self, schema_name: str) -> dict[str, Any] | None:
        versions = self.table_format.read_table(
            VERSION_TABLE, ["version_hash", "inserted_at"], where={"schema_name": schema_name}
        )
        if versions is None or versions.num_rows == 0:
            return None
        newest = max(versions.to_pylist(), key=lambda row: row["inserted_at"])
        rows = self.table_format.read_table(
            VERSION_TABLE,
            ["schema"],
            where={"schema_name": schema_name, "version_hash": newest["version_hash"]},
        )
        if rows is None or rows.num_rows == 0:
            return None
        document: dict[str, Any] = json.loads(rows["schema"][0].as_py())
        return document


class DltFileSidecars:
    """Sidecars as dlt writes them on a filesystem: one JSON-lines file per row.

    ``_dlt_loads/<schema>__<load_id>.jsonl``,
    ``_dlt_version/<schema>__<inserted_at timestamp>__<hex of the version hash>.jsonl`` and
    ``_dlt_pipeline_state/<pipeline>__<load_id>__<hex of the schema version hash>.jsonl``; the
    file names carry what a reader looks for, so finding the newest state lists two folders and
    reads one file.
    """

    description = "dlt's JSON-lines files"

    def __init__(self, dataset: StorageLocation) -> None:
        self._dataset = dataset

    @property
    def _fs(self) -> AbstractFileSystem:
        # Looked up on use: every load asks ``is_dlt_form`` of a local dataset, which a plain
        # listing answers without importing fsspec (~80 ms in a new process).
        return self._dataset.filesystem()

    def _names(self, table_name: str) -> list[str]:
        folder = self._dataset.join(table_name)
        try:
            if folder.is_local:
                names = os.listdir(folder.path)
            else:
                names = [str(p).rsplit("/", 1)[-1] for p in self._fs.ls(folder.path, detail=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [name for name in names if name.endswith(".jsonl")]

    def is_dlt_form(self) -> bool:
        """Whether ``_dlt_loads`` holds dlt's ``<schema>__<load_id>.jsonl`` files."""
        return any("__" in name for name in self._names(LOADS_TABLE))

    def has_loads(self) -> bool:
        return self.is_dlt_form()

    def _write(self, table_name: str, file_name: str, row: dict[str, Any]) -> None:
        folder = self._dataset.join(table_name)
        self._fs.makedirs(folder.path, exist_ok=True)
        with self._fs.open(folder.join(file_name).path, "wb") as sink:
            sink.write(json.dumps(row, default=str).encode("utf-8"))

    def _read(self, table_name: str, file_name: str) -> dict[str, Any]:
        raw = self._fs.cat_file(self._dataset.join(table_name, file_name).path)
        document: dict[str, Any] = json.loads(raw.decode("utf-8").splitlines()[0])
        return document

    def write_version(self, schema: Schema, load_id: str) -> None:
        suffix = f"__{_hex_hash(schema.version_hash)}.jsonl"
        prefix = f"{schema.name}__"
        if any(n.startswith(prefix) and n.endswith(suffix) for n in self._names(VERSION_TABLE)):
            return
        inserted_at = _now()
        row = {
            "version_hash": schema.version_hash,
            "schema_name": schema.name,
            "version": schema.version,
            "engine_version": ENGINE_VERSION,
            "inserted_at": inserted_at.isoformat(),
            "schema": json.dumps(schema.to_dict(), default=str),
        }
        name = f"{prefix}{inserted_at.timestamp()}{suffix}"
        self._write(VERSION_TABLE, name, row)

    def write_state(self, state_doc: dict[str, Any], schema: Schema, load_id: str) -> None:
        row = {**state_doc, "_dlt_load_id": load_id}
        name = f"{state_doc['pipeline_name']}__{load_id}__{_hex_hash(schema.version_hash)}.jsonl"
        self._write(STATE_TABLE, name, row)

    def write_load(self, schema: Schema, load_id: str) -> None:
        row = {
            "load_id": load_id,
            "schema_name": schema.name,
            "status": 0,
            "inserted_at": _now().isoformat(),
            "schema_version_hash": schema.version_hash,
        }
        self._write(LOADS_TABLE, f"{schema.name}__{load_id}.jsonl", row)

    def newest_state(self, pipeline_name: str) -> RemoteState | None:
        loaded = {
            name.rsplit("__", 1)[-1].removesuffix(".jsonl") for name in self._names(LOADS_TABLE)
        }
        candidates = []
        for name in self._names(STATE_TABLE):
            parts = name.removesuffix(".jsonl").rsplit("__", 2)
            if len(parts) == 3 and parts[0] == pipeline_name and parts[1] in loaded:
                candidates.append((parts[1], name))
        if not candidates:
            return None
        _, newest = max(candidates, key=lambda pair: _load_id_key(pair[0]))
        return self._read(STATE_TABLE, newest)

    def newest_schema(self, schema_name: str) -> dict[str, Any] | None:
        candidates = []
        for name in self._names(VERSION_TABLE):
            parts = name.removesuffix(".jsonl").rsplit("__", 2)
            if len(parts) == 3 and parts[0] == schema_name:
                candidates.append((_load_id_key(parts[1]), name))
        if not candidates:
            return None
        _, newest = max(candidates)
        document: dict[str, Any] = json.loads(self._read(VERSION_TABLE, newest)["schema"])
        return document


def open_sidecars(dataset: StorageLocation, formats: Sequence[TableFormat]) -> SidecarStore | None:
    """The sidecars the dataset already has, or ``None`` for a dataset without loads.

    dlt's JSON-lines form is looked for first, then a ``_dlt_loads`` table of each format in
    ``formats`` (in that order).
    """
    files = DltFileSidecars(dataset)
    if files.is_dlt_form():
        return files
    for table_format in formats:
        try:
            exists = table_format.table_exists(LOADS_TABLE)
        except (FileNotFoundError, NotADirectoryError):
            exists = False  # the dataset path is not a folder: it holds no sidecars
        if exists:
            return TableSidecars(table_format)
    return None


# ---------------------------------------------------------------------------------- helpers
def _load_id_key(load_id: str) -> Decimal:
    try:
        return Decimal(load_id)
    except InvalidOperation:
        return Decimal(-1)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _hex_hash(version_hash: str) -> str:
    """dlt names files by the hex of the base64-decoded version hash."""
    try:
        return base64.b64decode(version_hash, validate=True).hex()
    except (binascii.Error, ValueError):
        return hashlib.sha3_256(version_hash.encode("utf-8")).hexdigest()
