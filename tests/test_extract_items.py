"""What a resource may yield: rows of every Python type, pages, and Arrow-like objects."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pydantic

import quiver
from tests.extract_support import extracted_batches, make_pipeline, table_rows

UTC = datetime.UTC


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Size(enum.IntEnum):
    SMALL = 1


@dataclasses.dataclass
class Point:
    id: int
    x: float
    label: str | None = None


class Person(pydantic.BaseModel):
    id: int
    name: str
    tags: list[str] = []


class ArrowStream:
    """A foreign object that only speaks the Arrow C stream protocol."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self._table.__arrow_c_stream__(requested_schema)


def test_python_value_types_read_back(pipelines_dir: str, bucket: Path) -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    rows = [
        {
            "id": 1,
            "aware": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
            "offset": datetime.datetime(
                2024, 5, 1, 14, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
            ),
            "naive": datetime.datetime(2024, 5, 1, 12, 30),
            "day": datetime.date(2024, 5, 1),
            "price": decimal.Decimal("19.99"),
            "ident": ident,
            "blob": b"\x00\x01\xff",
            "color": Color.RED,
            "size": Size.SMALL,
            "nested": {"a": {"b": 1}},
        }
    ]
    make_pipeline(pipelines_dir, bucket).run(rows, table_name="types")
    (row,) = table_rows(bucket, "types")
    assert row["aware"] == datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert row["offset"] == datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    # Naive datetimes are UTC (dlt's rule).
    assert row["naive"].replace(tzinfo=None) == datetime.datetime(2024, 5, 1, 12, 30)
    assert row["day"] == datetime.date(2024, 5, 1)
    assert row["price"] == decimal.Decimal("19.99")
    assert row["ident"] == str(ident)
    assert row["blob"] == b"\x00\x01\xff"
    assert row["color"] == "red" and row["size"] == 1
    assert row["nested__a__b"] == 1


def test_time_values_are_extracted_as_arrow_time(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline("times", pipelines_dir=pipelines_dir)
    pipeline.extract([{"id": 1, "clock": datetime.time(12, 30, 15)}], table_name="times")
    (batch,) = extracted_batches(pipeline)["times"][0]
    assert batch.schema.field("clock").type == pa.time64("us")
    assert batch.to_pylist() == [{"id": 1, "clock": datetime.time(12, 30, 15)}]


def test_time_values_load_into_delta(pipelines_dir: str, bucket: Path) -> None:
    make_pipeline(pipelines_dir, bucket).run(
        [{"id": 1, "clock": datetime.time(1, 2)}], table_name="t"
    )
    # Delta has no time type: stored as text, as dlt does (DLT_BEHAVIOUR 5.2).
    assert table_rows(bucket, "t")[0]["clock"] == "01:02:00.000000"


def test_dataclasses_and_pydantic_models(pipelines_dir: str, bucket: Path) -> None:
    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run([Point(1, 1.5), Point(2, 2.5, "b")], table_name="points")
    pipeline.run(
        quiver.resource([Person(id=1, name="a", tags=["x", "y"])], name="people", columns=Person)
    )
    assert table_rows(bucket, "points") == [
        {"id": 1, "x": 1.5, "label": None},
        {"id": 2, "x": 2.5, "label": "b"},
    ]
    # columns=Model types the columns: a list field is a json column (as in dlt).
    (person,) = table_rows(bucket, "people")
    assert person["id"] == 1 and person["name"] == "a" and json.loads(person["tags"]) == ["x", "y"]


def test_pages_and_union_of_keys(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource
    def pages():
        yield [{"id": 1, "a": 1}]
        yield [{"id": 2, "b": "x"}, {"id": 3, "a": 2.5}]
        yield {"id": 4}

    make_pipeline(pipelines_dir, bucket).run(pages())
    assert table_rows(bucket, "pages") == [
        {"id": 1, "a": 1.0, "b": None},
        {"id": 2, "a": None, "b": "x"},
        {"id": 3, "a": 2.5, "b": None},
        {"id": 4, "a": None, "b": None},
    ]


def test_arrow_like_items_pass_through(pipelines_dir: str, bucket: Path) -> None:
    table = pa.table({"id": [1, 2], "s": [{"k": 1}, None]})
    items = {
        "t_table": table,
        "t_batch": table.to_batches()[0],
        "t_reader": pa.RecordBatchReader.from_batches(table.schema, table.to_batches()),
        "t_stream": ArrowStream(table),
        "t_polars": pl.DataFrame({"id": [1, 2], "v": ["a", "b"]}),
        "t_pandas": pd.DataFrame({"id": [1, 2], "v": ["a", "b"]}, index=[10, 11]),
    }
    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.extract([quiver.resource(item, name=name) for name, item in items.items()])
    files = extracted_batches(pipeline)
    assert set(files) == set(items)
    for name in items:
        # Arrow-like items stay Arrow (".arrow" files, no rows conversion).
        batches = [b for file in files[name] for b in file]
        assert sum(b.num_rows for b in batches) == 2
    assert files["t_table"][0][0].schema == table.schema
    pipeline.normalize()
    pipeline.load()
    assert table_rows(bucket, "t_pandas") == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    assert [r["s"] for r in table_rows(bucket, "t_stream")] == [{"k": 1}, None]


def test_a_page_of_arrow_tables(pipelines_dir: str, bucket: Path) -> None:
    tables = [pa.table({"id": [i]}) for i in range(3)]
    make_pipeline(pipelines_dir, bucket).run(quiver.resource([tables], name="many"))
    assert [r["id"] for r in table_rows(bucket, "many")] == [0, 1, 2]


EXTRACT_WITHOUT_PANDAS = """
import sys, traceback, tempfile
culprits = []

class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            culprits.extend(f.filename for f in traceback.extract_stack() if "quiver" in f.filename)
        return None

sys.meta_path.insert(0, Spy())
import pyarrow as pa
import quiver
p = quiver.pipeline("no_pandas", pipelines_dir=tempfile.mkdtemp())
p.extract([quiver.resource([{"a": 1}], name="rows"), quiver.resource(pa.table({"b": [1]}), name="t")])
print(sorted({c for c in culprits if "/extract/" in c or c.endswith(("state.py", "mark.py"))}))
"""


def test_extract_never_imports_pandas() -> None:
    out = subprocess.run(
        [sys.executable, "-c", EXTRACT_WITHOUT_PANDAS], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_dict_and_scalar_under_one_key_flatten_like_dlt(pipelines_dir: str, bucket: Path) -> None:
    rows = [{"id": 1, "a": {"b": 1}}, {"id": 2, "a": 5}, {"id": 3, "a": {}}]
    make_pipeline(pipelines_dir, bucket).run(rows, table_name="mixed")
    assert table_rows(bucket, "mixed") == [
        {"id": 1, "a": None, "a__b": 1},
        {"id": 2, "a": 5, "a__b": None},
        {"id": 3, "a": None, "a__b": None},
    ]


def test_a_list_of_pages(pipelines_dir: str, bucket: Path) -> None:
    pages = [[{"id": 1}, {"id": 2}], [{"id": 3}]]
    make_pipeline(pipelines_dir, bucket).run([quiver.resource(pages, name="paged")])
    assert [r["id"] for r in table_rows(bucket, "paged")] == [1, 2, 3]
    assert list(quiver.resource(pages, name="paged")) == [{"id": 1}, {"id": 2}, {"id": 3}]
