"""Schema files in dlt's YAML format: ``export_schema_path`` and ``import_schema_path``.

The document is dlt's stored schema (``version, version_hash, engine_version, name, tables,
settings, normalizers, previous_hashes``). Written files drop what dlt drops: the ``name`` keys
of tables and columns (the mapping keys say it) and hints that are ``false``. Read files get
them back, plus whatever a hand-written file leaves out (system tables, normalizers, engine
version), so a file written by dlt, by quiver or by hand loads the same way.

Import files describe *intent*: the processing hints dlt strips from them (``x-normalizer`` and
``x-loader``: seen data, evolve-once flags) are removed when read, except the user's
``max_nesting``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from quiver.atomic_files import write_text_atomically
from quiver.errors import InvalidSchemaFile
from quiver.schema.model import (
    ENGINE_VERSION,
    JSON_NORMALIZER_MODULE,
    Schema,
    _system_tables,
    content_hash,
)

SCHEMA_FILE_SUFFIX = ".schema.yaml"
_PROCESSING_HINTS = ("x-normalizer", "x-loader")
#: Column hints whose ``false`` is the default and is not written.
_KEEP_FALSE = ("nullable",)


def schema_file_path(folder: str | Path, schema_name: str) -> Path:
    return Path(folder) / f"{schema_name}{SCHEMA_FILE_SUFFIX}"


def to_yaml(document: dict[str, Any], *, remove_defaults: bool = True) -> str:
    """The schema document as dlt writes it (``Schema.to_pretty_yaml``)."""
    doc = copy.deepcopy(document)
    if remove_defaults:
        doc.pop("imported_version_hash", None)
        for table in doc.get("tables", {}).values():
            table.pop("name", None)
            for column in table.get("columns", {}).values():
                column.pop("name", None)
                for hint in [k for k, v in column.items() if v is False and k not in _KEEP_FALSE]:
                    del column[hint]
    return yaml.dump(doc, allow_unicode=True, default_flow_style=False, sort_keys=False)


def from_yaml(text: str, *, source: str = "<text>") -> dict[str, Any]:
    """A schema document from YAML, completed with names and defaults.

    Args:
        text: the YAML document.
        source: where the text came from (a file path), for error messages.

    Raises:
        InvalidSchemaFile: the YAML is not a schema (no ``name``, or ``tables`` is not a
            mapping); a ``ValueError``.
    """
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise InvalidSchemaFile.not_a_schema(source)
    tables = doc.setdefault("tables", {}) or {}
    if not isinstance(tables, dict):
        raise InvalidSchemaFile.tables_not_a_mapping(source, doc["name"])
    doc["tables"] = tables
    for table_name, table in list(tables.items()):
        table = tables[table_name] = dict(table or {})
        table["name"] = table_name
        columns = table.setdefault("columns", {}) or {}
        table["columns"] = {
            column_name: {"name": column_name, **(column or {})}
            for column_name, column in columns.items()
        }
    for name, table in _system_tables().items():
        tables.setdefault(name, table)
    doc.setdefault("version", 1)
    doc.setdefault("engine_version", ENGINE_VERSION)
    doc.setdefault("settings", {})
    normalizers = doc.setdefault("normalizers", {})
    normalizers.setdefault("names", "snake_case")
    normalizers.setdefault("json", {"module": JSON_NORMALIZER_MODULE})
    doc.setdefault("previous_hashes", [])
    doc.setdefault("version_hash", content_hash(doc))
    return doc


def export_schema(schema: Schema, folder: str | Path) -> Path:
    """Write ``<folder>/<name>.schema.yaml`` if its content differs from what is there."""
    path = schema_file_path(folder, schema.name)
    text = to_yaml(schema.document)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        write_text_atomically(path, text)
    return path


def read_import_schema(folder: str | Path, schema_name: str) -> dict[str, Any] | None:
    """The import file of a schema with processing hints removed, or None if there is none.

    Raises:
        InvalidSchemaFile: the file is not a schema, or holds a schema of another name; a
            ``ValueError``.
    """
    path = schema_file_path(folder, schema_name)
    if not path.exists():
        return None
    doc = from_yaml(path.read_text(encoding="utf-8"), source=str(path))
    if doc["name"] != schema_name:
        raise InvalidSchemaFile.name_mismatch(str(path), doc["name"], schema_name)
    for table in doc["tables"].values():
        nesting = (table.get("x-normalizer") or {}).get("max_nesting")
        for hint in _PROCESSING_HINTS:
            table.pop(hint, None)
        if nesting is not None:
            table["x-normalizer"] = {"max_nesting": nesting}
    return doc


def apply_import(schema: Schema, imported: dict[str, Any]) -> Schema:
    """The schema to use when an import file exists.

    If the file changed since it was last imported (its content hash differs from the stored
    ``imported_version_hash``), its tables, settings and normalizers replace the stored ones;
    the version chain continues (the next save bumps the version). Otherwise the stored schema
    stays as it is.
    """
    imported_hash = content_hash(imported)
    if schema.document.get("imported_version_hash") == imported_hash:
        return schema
    document = schema.to_dict()
    for key in ("tables", "settings", "normalizers", "description"):
        if key in imported:
            document[key] = copy.deepcopy(imported[key])
    document["imported_version_hash"] = imported_hash
    return Schema.from_dict(document)


def write_import_schema(schema: Schema, folder: str | Path) -> Path | None:
    """Create the import file from the schema if it does not exist yet (dlt does so on save)."""
    path = schema_file_path(folder, schema.name)
    if path.exists():
        return None
    document = schema.to_dict()
    for table in document.get("tables", {}).values():
        for hint in _PROCESSING_HINTS:
            table.pop(hint, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_yaml(document), encoding="utf-8")
    return path


__all__ = [
    "SCHEMA_FILE_SUFFIX",
    "apply_import",
    "export_schema",
    "from_yaml",
    "read_import_schema",
    "schema_file_path",
    "to_yaml",
    "write_import_schema",
]
