"""``refresh``: reset sources or resources before they are extracted again (dlt's modes).

``refresh`` is given to :func:`quiver.pipeline` (every run) or to ``run()``/``extract()`` (that
call only). For each source being extracted, before its resources run:

* ``"drop_sources"``: every table of the source's schema is dropped (from the schema, and from
  the destination when it holds data), the source's whole state is wiped (source keys, resource
  state, incremental cursors) and the schema starts again from the source's own hints; its
  history (``previous_hashes``) is erased.
* ``"drop_resources"``: only the tables of the resources being extracted (selected resources and
  the parents they read from) are dropped, and only their resource state is wiped; source-level
  state keys stay.
* ``"drop_data"``: the same tables are truncated instead (the schema is unchanged) and the same
  resource state is wiped, so incremental resources load again from their ``initial_value``.

A source that the pipeline extracts for the first time (no stored schema of that name) is not
refreshed. Nothing in the destination changes here: the tables to drop or truncate go into the
package (``dropped_tables``/``truncated_tables``) and the loader removes them just before it
loads that package (:mod:`quiver.load.refresh`). If extract or normalize fails, the package is
not made or not loaded, and the destination keeps every table.

Only tables that normalize has seen data for (``x-normalizer.seen-data``) are dropped or truncated
in the destination, as in dlt: the others were never created there.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from quiver.errors import InvalidRefreshMode
from quiver.extract.resource import Resource
from quiver.extract.state import reset_resource_state, reset_source_state
from quiver.package.schema_store import SchemaStore
from quiver.package.storage import PackageState
from quiver.schema.model import Schema

RefreshMode = Literal["drop_sources", "drop_resources", "drop_data"]
REFRESH_MODES: tuple[str, ...] = get_args(RefreshMode)

logger = logging.getLogger(__name__)


def check_refresh_mode(pipeline_name: str, where: str, mode: Any) -> RefreshMode | None:
    """``mode`` if it is a refresh mode (or ``None``).

    Raises:
        InvalidRefreshMode: any other value (a ``ValueError``), with a "did you mean".
    """
    if mode is None or mode in REFRESH_MODES:
        return mode  # type: ignore[no-any-return]
    raise InvalidRefreshMode(pipeline_name, where, mode, list(REFRESH_MODES))


@dataclass
class SourceRefresh:
    """What a refresh of one source does: the schema to extract into and the tables to remove.

    Attributes:
        schema: the source's schema after the refresh (tables dropped, or a fresh schema).
        dropped_tables: schema documents of the tables the loader drops, parents first.
        truncated_tables: schema documents of the tables the loader truncates, parents first.
    """

    schema: Schema
    dropped_tables: list[dict[str, Any]] = field(default_factory=list)
    truncated_tables: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changes_destination(self) -> bool:
        return bool(self.dropped_tables or self.truncated_tables)

    def package_state(self) -> PackageState:
        """The package state keys that carry the drops and truncations to the loader."""
        state: PackageState = {}
        if self.dropped_tables:
            state["dropped_tables"] = self.dropped_tables
        if self.truncated_tables:
            state["truncated_tables"] = self.truncated_tables
        return state


def prepare_refresh(
    mode: RefreshMode | None,
    schemas: SchemaStore,
    schema_names: Sequence[str],
    source_name: str,
    resources: Sequence[Resource],
    state: dict[str, Any],
) -> SourceRefresh | None:
    """Refresh a source before it is extracted, unless there is no mode or no stored schema.

    Args:
        mode: the refresh mode of this extract (already checked), or ``None``.
        schemas: the pipeline's schema store.
        schema_names: the schemas the pipeline has stored (a source extracted before has one).
        source_name: the source, which is also its schema's name.
        resources: the resources being extracted.
        state: the working copy of the pipeline state.

    Returns:
        The refresh, or ``None`` when nothing is refreshed (the first extract of a source).
    """
    if mode is None:
        return None
    if source_name not in schema_names:
        logger.info(
            "refresh=%r has no effect on source %r: it is extracted for the first time",
            mode,
            source_name,
        )
        return None
    return refresh_source(mode, schemas.load(source_name), state, source_name, resources)


def refresh_source(
    mode: RefreshMode,
    stored: Schema,
    state: dict[str, Any],
    source_name: str,
    resources: Sequence[Resource],
) -> SourceRefresh:
    """Apply ``mode`` to a source that was extracted before.

    Args:
        mode: the refresh mode.
        stored: the pipeline's stored schema of the source (not changed; a copy is refreshed).
        state: the working copy of the pipeline state; the source's or resources' state is
            wiped in it.
        source_name: the source (its section in ``state["sources"]``).
        resources: the resources being extracted.

    Returns:
        The refreshed schema and the tables the loader must drop or truncate.
    """
    if mode == "drop_sources":
        reset_source_state(state, source_name)
        tables = [t["name"] for t in stored.data_tables()]
        return SourceRefresh(_fresh_schema(stored), dropped_tables=tables_with_data(stored, tables))
    names = extracted_resource_names(resources)
    for name in names:
        reset_resource_state(state, source_name, name)
    tables = tables_of_resources(stored, names)
    if mode == "drop_data":
        return SourceRefresh(stored.clone(), truncated_tables=tables_with_data(stored, tables))
    schema = stored.clone()
    for name in tables:
        schema.tables.pop(name, None)
    return SourceRefresh(schema, dropped_tables=tables_with_data(stored, tables))


def extracted_resource_names(resources: Sequence[Resource]) -> list[str]:
    """The resources an extract runs: the selected ones and the parents transformers read."""
    names: list[str] = []
    for resource in resources:
        current: Resource | None = resource
        while current is not None:
            if current.name not in names:
                names.append(current.name)
            current = current.parent
    return names


def tables_of_resources(schema: Schema, resource_names: list[str]) -> list[str]:
    """Root tables made by the resources, each followed by its nested tables."""
    tables: list[str] = []
    for table in schema.data_tables():
        if "parent" not in table and table.get("resource") in resource_names:
            tables.append(table["name"])
            tables.extend(child["name"] for child in schema.child_tables(table["name"]))
    return tables


def tables_with_data(schema: Schema, names: list[str]) -> list[dict[str, Any]]:
    """Schema documents of the tables that exist in the destination, with their format."""
    documents: list[dict[str, Any]] = []
    for name in names:
        table = schema.tables.get(name)
        if table is None or not (table.get("x-normalizer") or {}).get("seen-data"):
            continue
        document: dict[str, Any] = copy.deepcopy(dict(table))
        table_format = schema.table_hint(name, "table_format")
        if table_format is not None:
            document["table_format"] = table_format
        documents.append(document)
    return documents


def _fresh_schema(stored: Schema) -> Schema:
    """A new, empty schema of the same name whose next version follows the stored one.

    The history is erased (dlt does the same), but the version keeps growing, so that the
    newest schema in the destination's ``_dlt_version`` is still the one with the highest
    version.
    """
    fresh = Schema(stored.name)
    fresh.document["version"] = stored.version
    return fresh
