"""The schema: tables, columns and hints, stored in dlt's document format.

A :class:`Schema` wraps the dict that goes to disk (``schemas/<name>.schema.json``) so that the
document stays exactly dlt's shape (``name, version, version_hash, previous_hashes,
engine_version, tables, settings, normalizers``) while code gets typed helpers.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from quiver.schema.types import TColumnSchema

ENGINE_VERSION = 11
LOADS_TABLE = "_dlt_loads"
VERSION_TABLE = "_dlt_version"
STATE_TABLE = "_dlt_pipeline_state"
MAX_PREVIOUS_HASHES = 10

TTableSchema = dict[str, Any]

_HASH_EXCLUDED = ("version", "version_hash", "imported_version_hash", "previous_hashes")


def _system_tables() -> dict[str, TTableSchema]:
    def col(name: str, data_type: str, nullable: bool = False) -> TColumnSchema:
        return {"name": name, "data_type": data_type, "nullable": nullable}

    return {
        VERSION_TABLE: {
            "name": VERSION_TABLE,
            "write_disposition": "skip",
            "resource": VERSION_TABLE,
            "description": "Created by quiver. Tracks schema updates",
            "columns": {
                c["name"]: c
                for c in (
                    col("version", "bigint"),
                    col("engine_version", "bigint"),
                    col("inserted_at", "timestamp"),
                    col("schema_name", "text"),
                    col("version_hash", "text"),
                    col("schema", "text"),
                )
            },
        },
        LOADS_TABLE: {
            "name": LOADS_TABLE,
            "write_disposition": "skip",
            "resource": LOADS_TABLE,
            "description": "Created by quiver. Tracks completed loads",
            "columns": {
                c["name"]: c
                for c in (
                    col("load_id", "text"),
                    col("schema_name", "text", nullable=True),
                    col("status", "bigint"),
                    col("inserted_at", "timestamp"),
                    col("schema_version_hash", "text", nullable=True),
                )
            },
        },
    }


def content_hash(document: dict[str, Any]) -> str:
    """dlt-style version hash: base64 sha3-256 of the document without its version fields.

    Table and column names are hashed in their order too, so reordering counts as a change.
    """
    content = {k: v for k, v in document.items() if k not in _HASH_EXCLUDED}
    encoded = json.dumps(content, sort_keys=True, default=str).encode()
    names = [
        name + "/" + "/".join(table.get("columns", {}))
        for name, table in document.get("tables", {}).items()
    ]
    digest = hashlib.sha3_256(encoded + "\n".join(names).encode()).digest()
    return base64.b64encode(digest).decode("ascii")


class Schema:
    """A named schema: the tables quiver knows, with their columns and hints."""

    def __init__(self, name: str, document: dict[str, Any] | None = None) -> None:
        if document is None:
            document = {
                "version": 1,
                "version_hash": "",
                "engine_version": ENGINE_VERSION,
                "name": name,
                "tables": _system_tables(),
                "settings": {"detections": ["iso_timestamp"]},
                "normalizers": {
                    "names": "snake_case",
                    "json": {"module": "dlt.common.normalizers.json.relational"},
                },
                "previous_hashes": [],
            }
            document["version_hash"] = content_hash(document)
        self._doc = document

    # ----------------------------------------------------------------- document
    @property
    def name(self) -> str:
        return str(self._doc["name"])

    @property
    def version(self) -> int:
        return int(self._doc["version"])

    @property
    def version_hash(self) -> str:
        return str(self._doc["version_hash"])

    @property
    def tables(self) -> dict[str, TTableSchema]:
        return self._doc["tables"]  # type: ignore[no-any-return]

    @property
    def settings(self) -> dict[str, Any]:
        return self._doc.setdefault("settings", {})  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._doc)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Schema:
        return cls(document["name"], copy.deepcopy(document))

    def clone(self) -> Schema:
        return Schema.from_dict(self._doc)

    def bump_version(self) -> bool:
        """Recompute the hash; if the content changed, increment the version. Returns whether it did."""
        new_hash = content_hash(self._doc)
        if new_hash == self._doc["version_hash"]:
            return False
        previous = [self._doc["version_hash"], *self._doc.get("previous_hashes", [])]
        self._doc["previous_hashes"] = previous[:MAX_PREVIOUS_HASHES]
        self._doc["version"] = self.version + 1
        self._doc["version_hash"] = new_hash
        return True

    # ------------------------------------------------------------------- tables
    def data_tables(self) -> Iterator[TTableSchema]:
        """Tables that hold user data (not the ``_dlt_*`` system tables)."""
        for name, table in self.tables.items():
            if not name.startswith("_dlt"):
                yield table

    def get_table(self, name: str) -> TTableSchema | None:
        return self.tables.get(name)

    def ensure_table(self, name: str, parent: str | None = None) -> TTableSchema:
        """Return the table, creating an empty one (child of ``parent`` if given)."""
        table = self.tables.get(name)
        if table is None:
            table = {"name": name, "columns": {}}
            if parent is not None:
                table["parent"] = parent
            self.tables[name] = table
        return table

    def root_table(self, name: str) -> TTableSchema:
        """The root of the table chain that ``name`` belongs to."""
        table = self.tables[name]
        while "parent" in table:
            table = self.tables[table["parent"]]
        return table

    def child_tables(self, name: str) -> list[TTableSchema]:
        """All descendants of a table (children, grandchildren, ...), parents first."""
        result: list[TTableSchema] = []
        frontier = [name]
        while frontier:
            parent = frontier.pop(0)
            for table in self.tables.values():
                if table.get("parent") == parent:
                    result.append(table)
                    frontier.append(table["name"])
        return result

    def table_hint(self, name: str, hint: str, default: Any = None) -> Any:
        """A table-level hint, inherited from the root table (write_disposition, table_format)."""
        table = self.tables.get(name)
        if table is not None and hint in table:
            return table[hint]
        if table is not None and "parent" in table:
            return self.root_table(name).get(hint, default)
        return default

    def merge_hints(self, name: str, hints: dict[str, Any]) -> TTableSchema:
        """Apply table hints (and column hints under ``columns``) from a resource."""
        table = self.ensure_table(name)
        for key, value in hints.items():
            if key == "columns":
                columns = table.setdefault("columns", {})
                for col_name, col_hints in value.items():
                    existing = columns.setdefault(col_name, {"name": col_name})
                    existing.update({k: v for k, v in col_hints.items() if v is not None})
            elif value is not None:
                table[key] = value
        return table

    def columns_with_hint(self, table_name: str, hint: str) -> list[str]:
        columns = self.tables.get(table_name, {}).get("columns", {})
        return [name for name, col in columns.items() if col.get(hint)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __repr__(self) -> str:
        return f"Schema(name={self.name!r}, version={self.version}, tables={list(self.tables)})"


def complete_columns(table: TTableSchema) -> Iterable[TColumnSchema]:
    """Columns that have a data type (hints may exist for columns that saw no data yet)."""
    return (c for c in table.get("columns", {}).values() if "data_type" in c)
