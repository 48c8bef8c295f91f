"""Which sidecar rows a load writes, read back with polars / pyiceberg, and what a load costs
in imports: the fixed cost of a small load (issue 15).

dlt's rules (``dlt/destinations/impl/filesystem/filesystem.py``: ``update_stored_schema`` and
``_store_current_state``; ``dlt/pipeline/pipeline.py``: ``_bump_version_and_extract_state``):
a ``_dlt_version`` row only when no row of that schema's version hash is stored, a
``_dlt_pipeline_state`` row only when the state's hash changed since it was last extracted,
and a ``_dlt_loads`` row for every completed load.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.destinations.location import resolve_location
from quiver.errors import DestinationCapabilitiesError
from tests.readers import Lake


def _counts(lake: Lake) -> dict[str, int]:
    # The reader's fsspec filesystem caches listings: without this it finds stale metadata.
    lake._fsspec().invalidate_cache()
    return {
        table: (len(lake.rows("ds", table, "inserted_at")) if lake.exists("ds", table) else 0)
        for table in ("_dlt_version", "_dlt_loads")
    } | {
        "_dlt_pipeline_state": len(lake.rows("ds", "_dlt_pipeline_state", "created_at"))
        if lake.exists("ds", "_dlt_pipeline_state")
        else 0
    }


@quiver.resource(name="events", primary_key="id")
def events(count: int, id: Any = quiver.sources.incremental("id")) -> Iterator[dict[str, Any]]:  # noqa: B008
    yield from ({"id": i, "name": f"n{i}"} for i in range(1, count + 1))


def test_sidecar_rows_only_for_a_new_schema_or_a_changed_state(
    any_lake: Lake, tmp_path: Path
) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    pipeline = any_lake.pipeline(pipelines_dir, "rows")

    pipeline.run([{"id": 1, "name": "a"}], table_name="plain")
    assert _counts(any_lake) == {"_dlt_version": 1, "_dlt_loads": 1, "_dlt_pipeline_state": 1}

    # Same columns, no state change: only the load is recorded.
    pipeline.run([{"id": 2, "name": "b"}], table_name="plain")
    assert _counts(any_lake) == {"_dlt_version": 1, "_dlt_loads": 2, "_dlt_pipeline_state": 1}

    # A new column is a new schema version: one more _dlt_version row, holding that schema.
    pipeline.run([{"id": 3, "name": "c", "extra": 1.5}], table_name="plain")
    assert _counts(any_lake) == {"_dlt_version": 2, "_dlt_loads": 3, "_dlt_pipeline_state": 1}
    newest = any_lake.rows("ds", "_dlt_version", "inserted_at")[-1]
    assert newest["version_hash"] == pipeline.default_schema.version_hash
    assert "extra" in newest["schema"]

    # A cursor that moves changes the state (and the new table the schema): both are stored.
    pipeline.run(events(3))
    assert _counts(any_lake) == {"_dlt_version": 3, "_dlt_loads": 4, "_dlt_pipeline_state": 2}
    states = any_lake.rows("ds", "_dlt_pipeline_state", "created_at")
    assert states[-1]["version_hash"] == pipeline.state["_version_hash"]

    # The cursor stays where it is and the schema is unchanged: nothing new to load at all.
    info = pipeline.run(events(3))
    assert info is not None and info.loads_ids == []
    assert _counts(any_lake) == {"_dlt_version": 3, "_dlt_loads": 4, "_dlt_pipeline_state": 2}

    # A fresh working folder restores the newest state and schema from what was written.
    restored = any_lake.pipeline(str(tmp_path / "elsewhere"), "rows")
    assert restored.sync_destination()
    cursor = restored.state["sources"]["rows"]["resources"]["events"]["incremental"]["id"]
    assert cursor["last_value"] == 3
    assert restored.default_schema.version_hash == pipeline.default_schema.version_hash


def _modules_after_a_load(tmp_path: Path, table_format: str) -> set[str]:
    """The heavy modules a local 1,000-row ``run()`` imports, in a new process."""
    code = textwrap.dedent(
        f"""
        import sys
        import quiver
        pipeline = quiver.pipeline(
            "imports",
            pipelines_dir={str(tmp_path / "pipelines")!r},
            destination=quiver.destinations.filesystem(bucket_url={str(tmp_path / "lake")!r}),
            dataset_name="ds",
        )
        pipeline.run(
            [{{"id": i}} for i in range(1000)], table_name="t", table_format={table_format!r}
        )
        pipeline.run([{{"id": 1000}}], table_name="t", table_format={table_format!r})
        print(",".join(m for m in ("fsspec", "pyiceberg.catalog", "sqlalchemy") if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(filter(None, result.stdout.strip().split(",")))


def test_a_local_delta_load_imports_neither_pyiceberg_catalogs_nor_fsspec(tmp_path: Path) -> None:
    """The sync asks every format whether ``_dlt_loads`` exists; for Iceberg and plain files
    on local disk that is a folder listing, not a catalog or an fsspec filesystem."""
    assert _modules_after_a_load(tmp_path, "delta") == set()


def test_a_local_iceberg_load_does_not_import_sqlalchemy_or_fsspec(tmp_path: Path) -> None:
    assert _modules_after_a_load(tmp_path, "iceberg") == {"pyiceberg.catalog"}


def test_the_folder_catalog_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    from quiver.destinations.iceberg.format import IcebergFormat

    fmt = IcebergFormat(resolve_location(str(tmp_path)).join("ds"), app_id="test")
    with pytest.raises(DestinationCapabilitiesError, match="cannot list_tables") as raised:
        fmt.catalog.list_tables("ds")
    assert "Hint: configure a catalog" in str(raised.value)
    with pytest.raises(DestinationCapabilitiesError, match="cannot create_namespace"):
        fmt.catalog.create_namespace("other")
