"""The live schemas of a pipeline, and the schema YAML folders it imports from and exports to.

Live schemas are ``<working_dir>/schemas/<name>.schema.json`` (dlt's stored schema document).
With ``import_schema_path``, a changed ``<name>.schema.yaml`` there replaces the content of the
live schema when it is loaded, and a missing one is written from the live schema; with
``export_schema_path``, every saved schema is also written there as YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from quiver.package.storage import read_json, write_json
from quiver.schema import yaml_io
from quiver.schema.documents import SchemaDocument
from quiver.schema.model import Schema, content_hash

SCHEMA_SUFFIX = ".schema.json"


class SchemaStore:
    """Reads and writes the live schemas in a folder.

    Args:
        folder: where the live schemas are (created if missing).
        import_schema_path: folder of schema YAML files to import, if any.
        export_schema_path: folder to export schema YAML files to, if any.
    """

    def __init__(
        self,
        folder: Path,
        *,
        import_schema_path: str | None = None,
        export_schema_path: str | None = None,
    ) -> None:
        self.folder = folder
        self.import_schema_path = import_schema_path
        self.export_schema_path = export_schema_path
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}{SCHEMA_SUFFIX}"

    def load(self, name: str) -> Schema:
        """The live schema ``name`` (a new, empty one if none is stored).

        A changed ``import_schema_path`` file replaces its content.
        """
        path = self.path(name)
        schema = Schema.from_dict(dict(_read(path))) if path.exists() else Schema(name)
        if self.import_schema_path:
            imported = yaml_io.read_import_schema(self.import_schema_path, name)
            if imported is not None:
                schema = yaml_io.apply_import(schema, imported)
        return schema

    def save(self, schema: Schema) -> None:
        """Bump the version if the content changed and write the live schema.

        Also writes the export file, and the import file if it is missing.
        """
        if self.import_schema_path and yaml_io.write_import_schema(schema, self.import_schema_path):
            # The file now says what the schema says: the next load must not re-import it.
            imported = yaml_io.read_import_schema(self.import_schema_path, schema.name)
            schema.document["imported_version_hash"] = content_hash(imported or {})
        schema.bump_version()
        write_json(self.path(schema.name), _document(schema))
        if self.export_schema_path:
            yaml_io.export_schema(schema, self.export_schema_path)


def _document(schema: Schema) -> SchemaDocument:
    # Schema keeps its document as a plain dict (schema.model); this is its stored shape.
    return cast(SchemaDocument, schema.to_dict())


def _read(path: Path) -> SchemaDocument:
    return cast(SchemaDocument, read_json(path))
