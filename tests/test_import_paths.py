"""The import paths dlt's documentation and users' scripts use exist, implemented by quiver.

A removed or renamed path turns this test red.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
from pathlib import Path

import pyarrow as pa
import pytest

import quiver as dlt
from tests.readers import Lake

#: (module, attribute) pairs: ``from dlt.common import json`` → ``quiver.common``, ``json``.
IMPORT_PATHS = [
    ("quiver.common", "json"),
    ("quiver.common", "Decimal"),
    ("quiver.common.pipeline", "get_dlt_pipelines_dir"),
    ("quiver.common.libs.deltalake", "get_delta_tables"),
    ("quiver.common.libs.pyiceberg", "get_iceberg_tables"),
    ("quiver.sources.helpers.transform", "add_row_hash_to_table"),
    ("quiver.common.schema.exceptions", "DataValidationError"),
    ("quiver.common.schema.exceptions", "CannotCoerceColumnException"),
    ("quiver.common.schema.exceptions", "SchemaException"),
    ("quiver.extract.exceptions", "ResourceExtractionError"),
    ("quiver.extract.exceptions", "IncrementalCursorPathMissing"),
    ("quiver.extract.exceptions", "IncrementalCursorInvalidCoercion"),
    ("quiver.destinations.adapters", "iceberg_adapter"),
    ("quiver.sources", "incremental"),
]


@pytest.mark.parametrize(
    ("module", "name"), IMPORT_PATHS, ids=[f"{m}.{n}" for m, n in IMPORT_PATHS]
)
def test_import_path_exists(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


def test_json_encodes_what_dlt_encodes() -> None:
    from quiver.common import Decimal, json

    text = json.dumps({"d": Decimal("1.50"), "at": datetime.date(2024, 1, 2), "b": b"\x01"})
    assert json.loads(text) == {"d": "1.50", "at": "2024-01-02", "b": "AQ=="}
    typed = json.typed_dumps({"d": decimal.Decimal("1.5")})
    assert json.typed_loads(typed) == {"d": decimal.Decimal("1.5")}


def test_pendulum_says_it_is_not_a_dependency() -> None:
    try:
        import pendulum
    except ImportError:
        with pytest.raises(ImportError, match="pendulum"):
            from quiver.common import pendulum  # noqa: F401
    else:  # pragma: no cover - pendulum happens to be installed
        from quiver.common import pendulum as imported

        assert imported is not None


def test_pipelines_dir_is_the_default_one(pipelines_dir: str) -> None:
    from quiver.common.pipeline import get_dlt_pipelines_dir

    pipeline = dlt.pipeline("where")
    assert Path(pipeline.pipelines_dir) == Path(get_dlt_pipelines_dir())


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_get_tables_returns_the_engines_objects(
    table_format: str, tmp_path: Path, pipelines_dir: str
) -> None:
    """dlt docs (destinations/delta-iceberg): ``get_delta_tables(pipeline, "my_table")`` returns
    ``{name: deltalake.DeltaTable}``; ``get_iceberg_tables`` pyiceberg tables."""
    lake = Lake(table_format, "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "engine_tables")
    pipeline.run([{"id": 1}, {"id": 2}], table_name="my_table")
    if table_format == "delta":
        from deltalake import DeltaTable

        from quiver.common.libs.deltalake import get_delta_tables

        tables = get_delta_tables(pipeline, "my_table")
        assert isinstance(tables["my_table"], DeltaTable)
        assert get_delta_tables(pipeline).keys() == {"my_table"}
        with pytest.raises(ValueError, match="no_such_table"):
            get_delta_tables(pipeline, "no_such_table")
    else:
        from pyiceberg.table import Table

        from quiver.common.libs.pyiceberg import get_iceberg_tables

        tables = get_iceberg_tables(pipeline, "my_table")
        assert isinstance(tables["my_table"], Table)
        assert tables["my_table"].scan().to_arrow().num_rows == 2


def test_add_row_hash_to_table_is_stable_per_row_content() -> None:
    from quiver.sources.helpers.transform import add_row_hash_to_table

    add_hash = add_row_hash_to_table("row_hash")
    table = add_hash(pa.table({"id": [1, 2, 1], "v": ["a", "b", "a"]}))
    hashes = table.column("row_hash").to_pylist()
    assert table.schema.field("row_hash").type == pa.int64()
    assert hashes[0] == hashes[2] != hashes[1]
    assert add_hash(table.slice(2)).column("row_hash").to_pylist() == [hashes[0]]
