"""Schema storage: dlt's document format, versions and hashes, YAML import and export."""

from __future__ import annotations

import datetime
import decimal
import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

import quiver
from quiver.errors import DataValidationError, PipelineStepFailed
from quiver.package.schema_store import SchemaStore
from quiver.schema import yaml_io
from quiver.schema.documents import (
    ColumnSchema,
    Normalizers,
    SchemaDocument,
    SchemaSettings,
    TableSchema,
)
from quiver.schema.model import Schema, content_hash

FIXTURE = Path(__file__).parent / "fixtures" / "shop.schema.yaml"


def _pipeline(pipelines_dir: str, bucket: Path, **kwargs: Any) -> quiver.Pipeline:
    return quiver.pipeline(
        "shop",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
        **kwargs,
    )


def test_stored_schema_has_dlts_shape(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([{"id": 1, "tags": ["a"]}], table_name="items")
    stored = json.loads((pipeline.working_dir / "schemas" / "shop.schema.json").read_text())
    assert {
        "version",
        "version_hash",
        "engine_version",
        "name",
        "tables",
        "settings",
        "normalizers",
        "previous_hashes",
    } <= set(stored)
    assert stored["engine_version"] == 11
    assert stored["normalizers"] == {
        "names": "snake_case",
        "json": {"module": "dlt.common.normalizers.json.relational"},
    }
    assert stored["settings"]["detections"] == ["iso_timestamp"]
    assert stored["settings"]["default_hints"]["not_null"][0] == "_dlt_id"
    items = stored["tables"]["items"]
    assert items["write_disposition"] == "append" and items["x-normalizer"] == {"seen-data": True}
    assert stored["tables"]["items__tags"]["parent"] == "items"
    assert items["columns"]["_dlt_id"] == {
        "name": "_dlt_id",
        "nullable": False,
        "data_type": "text",
        "unique": True,
        "row_key": True,
    }
    assert stored["version_hash"] == content_hash(stored)


def test_version_and_hash_change_only_with_content(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([{"id": 1}], table_name="items")
    first = pipeline.default_schema
    pipeline.run([{"id": 2}], table_name="items")
    same = pipeline.default_schema
    assert (same.version, same.version_hash) == (first.version, first.version_hash)
    pipeline.run([{"id": 3, "new": "x"}], table_name="items")
    changed = pipeline.default_schema
    assert changed.version == first.version + 1
    assert changed.version_hash != first.version_hash
    assert changed.previous_hashes[0] == first.version_hash


def test_bump_version_in_isolation() -> None:
    schema = Schema("s")
    assert not schema.bump_version()
    version, version_hash = schema.version, schema.version_hash
    schema.ensure_table("t")["columns"]["a"] = {"name": "a", "data_type": "text"}
    assert schema.bump_version()
    assert schema.version == version + 1 and schema.previous_hashes == [version_hash]
    assert not schema.bump_version()


def test_export_schema_path_writes_yaml_after_each_change(
    pipelines_dir: str, bucket: Path, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    pipeline = _pipeline(pipelines_dir, bucket, export_schema_path=str(export))
    pipeline.run([{"id": 1, "when": "2024-01-01T00:00:00Z"}], table_name="items")
    path = export / "shop.schema.yaml"
    exported = yaml.safe_load(path.read_text())
    assert exported["name"] == "shop" and exported["version"] == pipeline.default_schema.version
    columns = exported["tables"]["items"]["columns"]
    assert columns["when"] == {
        "nullable": True,
        "data_type": "timestamp",
    }  # no "name": dlt drops it
    assert "name" not in exported["tables"]["items"]
    pipeline.run([{"id": 2, "extra": 1.5}], table_name="items")
    exported = yaml.safe_load(path.read_text())
    assert "extra" in exported["tables"]["items"]["columns"]
    assert exported["version"] == pipeline.default_schema.version
    # What quiver exports it can import again, unchanged.
    assert (
        yaml_io.from_yaml(path.read_text())["tables"]["items"]["columns"]["extra"]["data_type"]
        == "double"
    )


def test_import_a_dlt_written_schema(pipelines_dir: str, bucket: Path, tmp_path: Path) -> None:
    imports = tmp_path / "import"
    imports.mkdir()
    shutil.copy(FIXTURE, imports / "shop.schema.yaml")
    pipeline = _pipeline(pipelines_dir, bucket, import_schema_path=str(imports))

    # The imported contract freezes the columns of orders: an unknown column fails.
    with pytest.raises(PipelineStepFailed) as failed:
        pipeline.run([{"order_id": 1, "amount": "12.5", "coupon": "X"}], table_name="orders")
    assert isinstance(failed.value.__context__.__context__, DataValidationError)
    assert "`coupon`" in str(failed.value)
    pipeline.drop_pending_packages()

    rows = [
        {"order_id": 1, "amount": "12.5", "placed_at": "2024-03-01T10:00:00+01:00", "note": None},
        {"order_id": 2, "amount": 7, "placed_at": datetime.datetime(2024, 3, 2, 8, 30)},
    ]
    pipeline.run(rows, table_name="orders")
    frame = pl.read_delta(str(bucket / "ds" / "orders")).sort("order_id")
    assert frame.schema["amount"] == pl.Decimal(10, 2)
    assert frame.schema["placed_at"] == pl.Datetime("us")  # timezone: false
    assert frame.select("order_id", "amount", "placed_at").to_dicts() == [
        {
            "order_id": 1,
            "amount": decimal.Decimal("12.50"),
            "placed_at": datetime.datetime(2024, 3, 1, 9),
        },
        {
            "order_id": 2,
            "amount": decimal.Decimal("7.00"),
            "placed_at": datetime.datetime(2024, 3, 2, 8, 30),
        },
    ]
    schema = pipeline.default_schema
    assert schema.tables["orders"]["columns"]["order_id"]["primary_key"] is True
    assert schema.document["imported_version_hash"]

    # preferred_types from the file apply to new tables: "re:_score$" columns are double.
    pipeline.run([{"id": 1, "risk_score": 5}], table_name="reviews")
    assert pl.read_delta(str(bucket / "ds" / "reviews")).schema["risk_score"] == pl.Float64

    # A changed import file replaces the stored schema's content on the next run.
    document = yaml.safe_load((imports / "shop.schema.yaml").read_text())
    document["tables"]["orders"]["schema_contract"] = {"columns": "evolve"}
    (imports / "shop.schema.yaml").write_text(yaml.dump(document))
    pipeline.run([{"order_id": 3, "amount": 1, "coupon": "Y"}], table_name="orders")
    assert pl.read_delta(str(bucket / "ds" / "orders")).filter(pl.col("order_id") == 3)[
        "coupon"
    ].to_list() == ["Y"]


def test_import_file_is_created_on_first_save(
    pipelines_dir: str, bucket: Path, tmp_path: Path
) -> None:
    imports = tmp_path / "import"
    pipeline = _pipeline(pipelines_dir, bucket, import_schema_path=str(imports))
    resource = quiver.resource(
        [{"id": 1}], name="items", columns={"id": {"data_type": "bigint", "nullable": False}}
    )
    pipeline.run(resource)
    written = yaml.safe_load((imports / "shop.schema.yaml").read_text())
    assert written["tables"]["items"]["columns"]["id"] == {"data_type": "bigint", "nullable": False}
    assert "x-normalizer" not in written["tables"]["items"]
    # Later runs do not re-import an unchanged file (seen data and columns stay).
    pipeline.run([{"id": 2, "more": "x"}], table_name="items")
    columns = pipeline.default_schema.tables["items"]["columns"]
    assert (
        "more" in columns and pipeline.default_schema.tables["items"]["x-normalizer"]["seen-data"]
    )


def test_from_yaml_fills_what_a_hand_written_file_leaves_out() -> None:
    document = yaml_io.from_yaml(
        "name: tiny\ntables:\n  t:\n    columns:\n      a:\n        data_type: text\n"
    )
    assert document["tables"]["t"]["columns"]["a"] == {"name": "a", "data_type": "text"}
    assert {"_dlt_loads", "_dlt_version"} <= set(document["tables"])
    assert document["engine_version"] == 11 and document["version_hash"]
    with pytest.raises(ValueError, match="name"):
        yaml_io.from_yaml("tables: {}\n")


def test_dlt_reads_quiver_schemas_without_a_new_version(pipelines_dir: str, bucket: Path) -> None:
    """The version hash is dlt's algorithm: dlt loads the document and keeps its version."""
    dlt_schema = pytest.importorskip("dlt.common.schema")
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run(
        [{"id": 1, "ü": "ß", "tags": ["a"], "v": 1}, {"id": 2, "v": "x"}], table_name="items"
    )
    stored = json.loads((pipeline.working_dir / "schemas" / "shop.schema.json").read_text())
    loaded = dlt_schema.Schema.from_dict(stored)
    assert (loaded.version, loaded.version_hash) == (stored["version"], stored["version_hash"])


def test_schema_store_round_trip_and_export(tmp_path: Path) -> None:
    store = SchemaStore(tmp_path / "schemas", export_schema_path=str(tmp_path / "export"))
    fresh = store.load("shop")
    assert fresh.version == 1 and not store.path("shop").exists()
    fresh.ensure_table("items")["columns"]["id"] = {"name": "id", "data_type": "bigint"}
    store.save(fresh)
    assert fresh.version == 2
    loaded = store.load("shop")
    assert loaded.to_dict() == fresh.to_dict()
    assert loaded.tables["items"]["columns"]["id"]["data_type"] == "bigint"
    exported = yaml.safe_load((tmp_path / "export" / "shop.schema.yaml").read_text())
    assert exported["version_hash"] == fresh.version_hash
    store.save(loaded)  # unchanged content: same version
    assert store.load("shop").version == 2
    assert not list((tmp_path / "schemas").glob("*.tmp"))  # written by rename


def test_schema_store_imports_a_changed_file(tmp_path: Path) -> None:
    store = SchemaStore(tmp_path / "schemas", import_schema_path=str(tmp_path / "import"))
    schema = store.load("shop")
    store.save(schema)  # writes the missing import file
    import_file = tmp_path / "import" / "shop.schema.yaml"
    document = yaml.safe_load(import_file.read_text())
    document["tables"]["orders"] = {"columns": {"total": {"data_type": "decimal"}}}
    import_file.write_text(yaml.safe_dump(document))
    assert store.load("shop").tables["orders"]["columns"]["total"]["data_type"] == "decimal"


def _declared(typed_dict: Any) -> set[str]:
    return set(typed_dict.__required_keys__ | typed_dict.__optional_keys__)


def test_stored_schemas_use_only_declared_keys(pipelines_dir: str, bucket: Path) -> None:
    """Schema, table and column documents hold what their TypedDicts say (schema.documents)."""

    @quiver.resource(
        primary_key="id",
        write_disposition={"disposition": "merge", "strategy": "scd2"},
        max_table_nesting=2,
    )
    def customers(ts=quiver.sources.incremental("ts", initial_value=0)):  # noqa: B008
        yield [{"id": 1, "ts": 1, "name": "a", "tags": ["x"], "address": {"city": "c"}}]

    @quiver.resource(primary_key="id", write_disposition="merge")
    def orders():
        yield [{"id": 1, "total": 1.5, "lines": [{"sku": "s", "qty": 1}]}]

    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([customers(), orders()])
    pipeline.run([{"id": 1, "total": "odd"}], table_name="orders")  # a variant column
    documents = [
        json.loads(path.read_text())
        for path in [
            *(pipeline.working_dir / "schemas").glob("*.schema.json"),
            *(pipeline.working_dir / "loaded").glob("*/schema.json"),
        ]
    ]
    assert len(documents) == 3
    for document in documents:
        assert SchemaDocument.__required_keys__ <= set(document) <= _declared(SchemaDocument)
        assert set(document["settings"]) <= _declared(SchemaSettings)
        assert set(document["normalizers"]) <= _declared(Normalizers)
        for table in document["tables"].values():
            assert TableSchema.__required_keys__ <= set(table) <= _declared(TableSchema)
            for column in table["columns"].values():
                assert set(column) <= _declared(ColumnSchema), (table["name"], column)
    live = documents[0]["tables"]
    assert live["orders"]["columns"]["total__v_text"]["variant"] is True
    assert live["customers"]["x-merge-strategy"] == "scd2"
