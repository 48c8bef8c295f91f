"""The schema: tables, columns and hints, stored in dlt's document format.

A :class:`Schema` wraps the dict that goes to disk (``schemas/<name>.schema.json``) so that the
document stays exactly dlt's shape (``name, version, version_hash, previous_hashes,
engine_version, tables, settings, normalizers``) while code gets typed helpers.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from quiver.schema.columns import LOADS_TABLE, VERSION_TABLE
from quiver.schema.types import TColumnSchema

ENGINE_VERSION = 11
MAX_PREVIOUS_HASHES = 10

TTableSchema = dict[str, Any]

_HASH_EXCLUDED = ("version", "version_hash", "imported_version_hash", "previous_hashes")
JSON_NORMALIZER_MODULE = "dlt.common.normalizers.json.relational"
DEFAULT_MAX_NESTING = 1000
#: Column properties that define the stored type (dlt's ``data_type`` contract entity).
TYPE_PROPS = ("data_type", "precision", "scale", "timezone")
#: ``x-normalizer`` key of hints that would retype a loaded column (see Schema.merge_hints).
RETYPE_HINTS = "retype-hints"
#: ``x-normalizer`` flag of a table that may evolve its columns once (dlt's name).
EVOLVE_ONCE = "evolve-columns-once"
#: The relational normalizer's default hints, as dlt stores them in ``settings``.
DEFAULT_HINTS: dict[str, list[str]] = {
    "not_null": ["_dlt_id", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_load_id"],
    "parent_key": ["_dlt_parent_id"],
    "root_key": ["_dlt_root_id"],
    "unique": ["_dlt_id"],
    "row_key": ["_dlt_id"],
}


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
    """dlt's version hash, computed the same way so both tools agree on a schema's version.

    base64 of sha3-256 over the compact, key-sorted JSON of the document without ``version``,
    ``version_hash``, ``imported_version_hash`` and ``previous_hashes``, followed by each table
    name (sorted) and its column names in order - so reordering columns counts as a change.
    """
    content = {k: v for k, v in document.items() if k not in _HASH_EXCLUDED}
    encoded = json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")
    digest = hashlib.sha3_256(encoded)
    tables = content.get("tables") or {}
    for table_name in sorted(tables):
        digest.update(table_name.encode("utf-8"))
        for column_name in tables[table_name].get("columns") or {}:
            digest.update(column_name.encode("utf-8"))
    return base64.b64encode(digest.digest()).decode("ascii")


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
                "settings": {
                    "detections": ["iso_timestamp"],
                    "default_hints": copy.deepcopy(DEFAULT_HINTS),
                },
                "normalizers": {
                    "names": "snake_case",
                    "json": {"module": JSON_NORMALIZER_MODULE},
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
    def previous_hashes(self) -> list[str]:
        return list(self._doc.get("previous_hashes") or [])

    @property
    def tables(self) -> dict[str, TTableSchema]:
        return self._doc["tables"]  # type: ignore[no-any-return]

    @property
    def settings(self) -> dict[str, Any]:
        return self._doc.setdefault("settings", {})  # type: ignore[no-any-return]

    @property
    def normalizers(self) -> dict[str, Any]:
        return self._doc.setdefault("normalizers", {})  # type: ignore[no-any-return]

    @property
    def document(self) -> dict[str, Any]:
        """The live document (not a copy): what is written to ``<name>.schema.json``."""
        return self._doc

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._doc)

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Schema:
        return cls(document["name"], copy.deepcopy(document))

    def clone(self) -> Schema:
        return Schema.from_dict(self._doc)

    def bump_version(self) -> bool:
        """Recompute the hash; if the content changed, increment the version. Returns whether it did.

        quiver-only keys that older code or resource hints put in the document are first moved
        to where dlt keeps them, so the stored document stays readable by dlt.
        """
        self._to_dlt_layout()
        new_hash = content_hash(self._doc)
        if new_hash == self._doc["version_hash"]:
            return False
        previous = [self._doc["version_hash"], *self._doc.get("previous_hashes", [])]
        self._doc["previous_hashes"] = [h for h in previous if h][:MAX_PREVIOUS_HASHES]
        self._doc["version"] = self.version + 1
        self._doc["version_hash"] = new_hash
        return True

    def _to_dlt_layout(self) -> None:
        nesting = self.settings.pop("max_table_nesting", None)
        if nesting is not None:
            config = self.normalizers.setdefault("json", {}).setdefault("config", {})
            config["max_nesting"] = int(nesting)
        for table in self.tables.values():
            nesting = table.pop("max_table_nesting", None)
            if nesting is not None:
                table.setdefault("x-normalizer", {})["max_nesting"] = int(nesting)

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

    def is_new_table(self, name: str) -> bool:
        """dlt's rule: a table is new until it has a column with a data type."""
        table = self.tables.get(name)
        return table is None or not any(True for _ in complete_columns(table))

    def max_nesting(self, root_table_name: str) -> int:
        """How many levels of nested data the relational normalizer unnests for a root table.

        The resource hint (``x-normalizer.max_nesting`` on the root table) wins over the
        source's (``normalizers.json.config.max_nesting``); dlt's default is 1000.
        """
        table = self.tables.get(root_table_name) or {}
        value = (table.get("x-normalizer") or {}).get("max_nesting")
        if value is None:
            value = table.get("max_table_nesting")
        if value is None:
            value = self.explicit_source_nesting()
        return DEFAULT_MAX_NESTING if value is None else int(value)

    def has_explicit_nesting(self, root_table_name: str) -> bool:
        """Whether ``max_table_nesting`` was set on the resource or source (Arrow unnests then)."""
        table = self.tables.get(root_table_name) or {}
        return (
            (table.get("x-normalizer") or {}).get("max_nesting") is not None
            or table.get("max_table_nesting") is not None
            or self.explicit_source_nesting() is not None
        )

    def explicit_source_nesting(self) -> int | None:
        config = (self.normalizers.get("json") or {}).get("config") or {}
        value = config.get("max_nesting", self.settings.get("max_table_nesting"))
        return None if value is None else int(value)

    def merge_hints(self, name: str, hints: dict[str, Any]) -> TTableSchema:
        """Apply table hints (and column hints under ``columns``) from a resource.

        Hints win over inference, except that the type of a column that already holds data
        (``data_type``, ``precision``, ``scale``, ``timezone``) is kept: the destination table
        has that type, and values that do not fit go to variant columns. Such ignored changes
        are kept under ``x-normalizer`` until normalize applies the ``data_type`` contract to
        them (:meth:`pop_type_hint_conflicts`).
        """
        if name not in self.tables:
            # dlt: a table that first appears with this resource may add columns in the
            # package that loads it, whatever the columns contract (cleared by normalize).
            self.ensure_table(name)["x-normalizer"] = {EVOLVE_ONCE: True}
        table = self.tables[name]
        seen_data = bool((table.get("x-normalizer") or {}).get("seen-data"))
        for key, value in hints.items():
            if key == "columns":
                columns = table.setdefault("columns", {})
                for col_name, col_hints in value.items():
                    existing = columns.setdefault(col_name, {"name": col_name})
                    locked = seen_data and "data_type" in existing
                    for prop, prop_value in col_hints.items():
                        if prop_value is None:
                            continue
                        if locked and prop in TYPE_PROPS and existing.get(prop) != prop_value:
                            # Kept for normalize, which applies the data_type contract to it.
                            retype = table.setdefault("x-normalizer", {}).setdefault(
                                RETYPE_HINTS, {}
                            )
                            retype.setdefault(col_name, {})[prop] = prop_value
                            continue
                        existing[prop] = prop_value
            elif key == "max_table_nesting":
                if value is not None:
                    table.setdefault("x-normalizer", {})["max_nesting"] = int(value)
            elif key == "x-normalizer" and isinstance(value, dict):
                merged = table.setdefault("x-normalizer", {})
                merged.update({k: v for k, v in value.items() if k != "seen-data" or v})
            elif value is not None:
                table[key] = value
        return table

    def pop_type_hint_conflicts(self) -> list[tuple[str, str, str, Any]]:
        """(table, column, property, hinted value) of hints that would have retyped a column
        holding data (see :meth:`merge_hints`); they are removed from the schema."""
        conflicts: list[tuple[str, str, str, Any]] = []
        for name, table in self.tables.items():
            retype = (table.get("x-normalizer") or {}).pop(RETYPE_HINTS, None) or {}
            for column, props in retype.items():
                conflicts.extend((name, column, prop, value) for prop, value in props.items())
            if table.get("x-normalizer") == {}:
                del table["x-normalizer"]
        return conflicts

    def columns_with_hint(self, table_name: str, hint: str) -> list[str]:
        columns = self.tables.get(table_name, {}).get("columns", {})
        return [name for name, col in columns.items() if col.get(hint)]

    # ---------------------------------------------------------- column settings
    def preferred_type(self, column_name: str) -> str | None:
        """``settings.preferred_types``: the first pattern that matches the column name wins."""
        for pattern, data_type in (self.settings.get("preferred_types") or {}).items():
            if _simple_regex(pattern).search(column_name):
                return str(data_type)
        return None

    def default_hints_for(self, column_name: str) -> dict[str, Any]:
        """Column properties set by ``settings.default_hints`` (``not_null`` → nullable False)."""
        result: dict[str, Any] = {}
        for hint, patterns in (self.settings.get("default_hints") or {}).items():
            if any(_simple_regex(p).search(column_name) for p in patterns):
                if hint == "not_null":
                    result["nullable"] = False
                elif hint != "foreign_key":
                    result[hint] = True
        return result

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __repr__(self) -> str:
        return f"Schema(name={self.name!r}, version={self.version}, tables={list(self.tables)})"


@functools.lru_cache(maxsize=1024)
def _simple_regex(pattern: str) -> re.Pattern[str]:
    """dlt's simple regex: ``re:<regex>`` is a regex, anything else an exact name."""
    if pattern.startswith("re:"):
        return re.compile(pattern[3:])
    return re.compile("^" + re.escape(pattern) + "$")


def complete_columns(table: TTableSchema) -> Iterable[TColumnSchema]:
    """Columns that have a data type (hints may exist for columns that saw no data yet)."""
    return (c for c in table.get("columns", {}).values() if "data_type" in c)
