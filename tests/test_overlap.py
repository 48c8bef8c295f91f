"""``run()`` normalizes a package while it is extracted (issue 15, "pipelined stages").

The streamed path must give exactly what extract, then normalize, then load gives: the same
tables (read back by deltalake and pyiceberg through polars, compared row by row), the same
schema (version hash included) and the same counts. When it cannot (hints changed during the
extract, the stream failed), the extracted files are normalized as before.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import quiver
from quiver.errors import PipelineStepFailed
from quiver.extract.extractor import Extractor
from quiver.normalize import normalizer
from quiver.normalize.stream import StreamNormalizer
from quiver.pipeline import overlap
from tests.readers import Lake, delta_rows_polars

#: Lineage columns whose values are random per run (row ids of append tables, load ids).
RANDOM_COLUMNS = ("_dlt_id", "_dlt_parent_id", "_dlt_root_id", "_dlt_load_id")

Data = Callable[[], Any]


@pytest.fixture
def small_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many batches per table, so the stream sees pages one by one."""
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "40")


@pytest.fixture
def adopted(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each package's streamed result was used (``True``) or discarded (``False``)."""
    results: list[bool] = []
    original = overlap.streamed_result

    def recording(*args: Any) -> Any:
        result = original(*args)
        if overlap._active.get() is not None:
            results.append(result is not None)
        return result

    monkeypatch.setattr(overlap, "streamed_result", recording)
    return results


def _lakes(tmp_path: Path, table_format: str) -> tuple[Lake, Lake]:
    streamed = Lake(table_format, "local", f"file://{tmp_path / 'streamed'}")
    regular = Lake(table_format, "local", f"file://{tmp_path / 'regular'}")
    return streamed, regular


def _run(
    lake: Lake, pipelines_dir: str, name: str, runs: list[Data], streamed: bool, **kwargs: Any
) -> quiver.Pipeline:
    """``run()`` each of ``runs`` with the overlap on, or extract/normalize/load them."""
    # One pipeline name (it names the schema), a working folder per path.
    pipeline = lake.pipeline(f"{pipelines_dir}/{name}", "overlap")
    for data in runs:
        if streamed:
            pipeline.run(data(), **kwargs)
        else:
            pipeline.extract(data(), **kwargs)
            pipeline.normalize()
            pipeline.load()
    return pipeline


def _assert_same_lakes(
    streamed: quiver.Pipeline, regular: quiver.Pipeline, lakes: tuple[Lake, Lake]
) -> None:
    """Same schema, same tables, same rows (random lineage ids aside), same counts."""
    mine, theirs = streamed.default_schema, regular.default_schema
    assert mine.version_hash == theirs.version_hash
    assert list(mine.tables) == list(theirs.tables)
    assert mine.to_dict()["tables"] == theirs.to_dict()["tables"]
    loaded = [
        name for name in mine.tables if not name.startswith("_dlt") and lakes[1].exists("ds", name)
    ]
    assert loaded, "nothing was loaded"
    for name in loaded:
        left, right = (_comparable(lake.read("ds", name)) for lake in lakes)
        # Iceberg's column order follows the package's files, whose names are random.
        assert dict(left.schema) == dict(right.schema), name
        assert left.to_dicts() == right.to_dicts(), name
    mine_info = streamed.last_trace.last_normalize_info  # type: ignore[union-attr]
    their_info = regular.last_trace.last_normalize_info  # type: ignore[union-attr]
    assert mine_info is not None and their_info is not None
    assert mine_info.row_counts == their_info.row_counts


def _comparable(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.drop([c for c in frame.columns if c in RANDOM_COLUMNS])
    if "_dlt_valid_to" in frame.columns:  # scd2 validity is the load's time: only "retired?"
        frame = frame.drop("_dlt_valid_from").with_columns(pl.col("_dlt_valid_to").is_null())
    frame = frame.select(sorted(frame.columns))
    sortable = [
        c for c in frame.columns if frame.schema[c].is_numeric() or frame.schema[c] == pl.String
    ]
    return frame.sort(sortable, nulls_last=True) if sortable else frame


# ---------------------------------------------------------------------------------- data
def _nested_pages() -> Any:
    @quiver.resource(name="orders")
    def orders() -> Iterator[list[dict[str, Any]]]:
        for page in range(6):
            rows = []
            for i in range(page * 40, page * 40 + 40):
                row: dict[str, Any] = {
                    "id": i,
                    "customer": {"name": f"c{i % 7}", "tier": i % 3},
                    "items": [
                        {"sku": f"s{j}", "qty": j, "tags": ["a", "b"][: j % 3]}
                        for j in range(i % 4)
                    ],
                    # A type change after the first page: a variant column.
                    "amount": i * 1.5 if page < 3 else f"{i} EUR",
                }
                if page >= 2:
                    row["note"] = f"added on page {page}"  # schema evolution across pages
                rows.append(row)
            yield rows

    return orders()


def _arrow_pages() -> Any:
    @quiver.resource(name="events")
    def events() -> Iterator[pa.Table]:
        for page in range(5):
            ids = list(range(page * 100, page * 100 + 100))
            value = (
                pa.array([float(i) for i in ids]) if page != 2 else pa.array([str(i) for i in ids])
            )
            columns = {"id": ids, "value": value}
            if page >= 3:
                columns["extra"] = pa.array([i % 2 == 0 for i in ids])
            yield pa.table(columns)

    return events()


def _several_tables() -> Any:
    @quiver.resource(name="users")
    def users() -> Iterator[dict[str, Any]]:
        for i in range(150):
            yield {"id": i, "email": f"u{i}@x", "roles": [{"r": "admin"}] if i % 5 == 0 else []}

    @quiver.resource(name="by_kind", table_name=lambda row: f"kind_{row['kind']}")
    def by_kind() -> Iterator[dict[str, Any]]:
        for i in range(200):
            yield {"kind": i % 3, "id": i, "payload": {"n": i}}

    @quiver.source(name="several")
    def several() -> Any:
        return users(), by_kind()

    return several()


def _merged(version: int) -> Data:
    def data() -> Any:
        @quiver.resource(name="items", primary_key="id", write_disposition="merge")
        def items() -> Iterator[dict[str, Any]]:
            for i in range(version * 60, version * 60 + 150):
                yield {"id": i, "v": f"{version}-{i}", "parts": [{"p": k} for k in range(i % 3)]}

        return items()

    return data


def _scd2(version: int) -> Data:
    def data() -> Any:
        @quiver.resource(
            name="dims", write_disposition={"disposition": "merge", "strategy": "scd2"}
        )
        def dims() -> Iterator[dict[str, Any]]:
            for i in range(120):
                yield {"id": i, "label": f"l{i}" if i % 4 or version == 0 else f"changed{i}"}

        return dims()

    return data


def _partitioned() -> Any:
    @quiver.resource(name="parts", columns={"day": {"partition": True}})
    def parts() -> Iterator[dict[str, Any]]:
        for i in range(200):
            yield {"id": i, "day": f"2024-01-0{1 + i % 4}", "v": i * 2}

    return parts()


def _discard_rows(version: int) -> Data:
    def data() -> Any:
        @quiver.resource(name="strict", schema_contract={"columns": "discard_row"})
        def strict() -> Iterator[dict[str, Any]]:
            for i in range(120):
                row: dict[str, Any] = {"id": i, "name": f"n{i}"}
                if version and i % 3 == 0:
                    row["unexpected"] = i  # a new column on the second run: row discarded
                yield row

        return strict()

    return data


SCENARIOS: dict[str, list[Data]] = {
    "nested-variants-evolution": [_nested_pages],
    "arrow-items": [_arrow_pages],
    "several-tables": [_several_tables],
    "merge": [_merged(0), _merged(1)],
    "scd2": [_scd2(0), _scd2(1)],
    "partitioned": [_partitioned],
    "discard-row": [_discard_rows(0), _discard_rows(1)],
}


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.usefixtures("small_buffers")
def test_streamed_and_regular_paths_give_the_same_tables(
    pipelines_dir: str, tmp_path: Path, adopted: list[bool], scenario: str, table_format: str
) -> None:
    runs = SCENARIOS[scenario]
    lakes = _lakes(tmp_path, table_format)
    streamed = _run(lakes[0], pipelines_dir, "streamed", runs, streamed=True)
    assert adopted == [True] * len(runs), "the streamed result was not used"
    regular = _run(lakes[1], pipelines_dir, "regular", runs, streamed=False)
    _assert_same_lakes(streamed, regular, lakes)


@pytest.mark.usefixtures("small_buffers")
def test_the_setting_off_normalizes_the_extracted_files(
    pipelines_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adopted: list[bool]
) -> None:
    monkeypatch.setenv("NORMALIZE__OVERLAP_EXTRACT", "false")
    started: list[StreamNormalizer] = []
    monkeypatch.setattr(StreamNormalizer, "__init__", _refuse(started))
    lakes = _lakes(tmp_path, "delta")
    streamed = _run(lakes[0], pipelines_dir, "off", [_nested_pages], streamed=True)
    regular = _run(lakes[1], pipelines_dir, "regular", [_nested_pages], streamed=False)
    assert adopted == [False]
    _assert_same_lakes(streamed, regular, lakes)


def _refuse(started: list[StreamNormalizer]) -> Callable[..., None]:
    def init(self: StreamNormalizer, *args: Any, **kwargs: Any) -> None:
        started.append(self)
        raise AssertionError("no stream may start")

    return init


# ------------------------------------------------------------------------------ fallback
def _hints_change_midway() -> Any:
    @quiver.resource(name="hinted")
    def hinted() -> Iterator[Any]:
        for page in range(4):
            rows = [{"id": i, "code": i % 10} for i in range(page * 40, page * 40 + 40)]
            if page == 2:
                # From now on ``code`` is text: a hint that normalize must see from the start.
                hints = quiver.mark.make_hints(columns={"code": {"data_type": "text"}})
                yield quiver.mark.with_hints(rows, hints)
            else:
                yield rows

    return hinted()


@pytest.mark.usefixtures("small_buffers")
def test_hints_changed_during_the_extract_fall_back_to_the_extracted_files(
    pipelines_dir: str, tmp_path: Path, adopted: list[bool]
) -> None:
    lakes = _lakes(tmp_path, "delta")
    streamed = _run(lakes[0], pipelines_dir, "streamed", [_hints_change_midway], streamed=True)
    assert adopted == [False]
    regular = _run(lakes[1], pipelines_dir, "regular", [_hints_change_midway], streamed=False)
    _assert_same_lakes(streamed, regular, lakes)
    assert lakes[0].read("ds", "hinted").schema["code"] == pl.String


@pytest.mark.usefixtures("small_buffers")
def test_a_failing_stream_falls_back_without_duplicates(
    pipelines_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, adopted: list[bool]
) -> None:
    coerce = normalizer._coerce_tables
    failed: list[str] = []

    def coerce_failing_once_in_the_stream(*args: Any) -> Any:
        if threading.current_thread().name.startswith("quiver-normalize-") and not failed:
            failed.append(threading.current_thread().name)
            raise OSError("injected: the stream's coercion failed")
        return coerce(*args)

    monkeypatch.setattr(normalizer, "_coerce_tables", coerce_failing_once_in_the_stream)
    lakes = _lakes(tmp_path, "iceberg")
    streamed = _run(lakes[0], pipelines_dir, "streamed", [_nested_pages], streamed=True)
    assert failed and adopted == [False]
    regular = _run(lakes[1], pipelines_dir, "regular", [_nested_pages], streamed=False)
    _assert_same_lakes(streamed, regular, lakes)
    assert lakes[0].read("ds", "orders")["id"].n_unique() == lakes[0].read("ds", "orders").height
    assert lakes[0].read("ds", "orders").height == 240


def test_a_frozen_contract_fails_the_same_way(pipelines_dir: str, tmp_path: Path) -> None:
    """The stream never raises: the package loop raises, moves the package aside, says why."""

    def frozen(version: int) -> Data:
        def data() -> Any:
            @quiver.resource(name="frozen", schema_contract={"columns": "freeze"})
            def rows() -> Iterator[dict[str, Any]]:
                for i in range(50):
                    yield {"id": i, **({"new_column": i} if version else {})}

            return rows()

        return data

    errors = []
    for name, streamed in (("streamed", True), ("regular", False)):
        lake = Lake("delta", "local", f"file://{tmp_path / name}")
        pipeline = _run(lake, pipelines_dir, name, [frozen(0)], streamed=streamed)
        with pytest.raises(PipelineStepFailed) as raised:
            _run(lake, pipelines_dir, name, [frozen(1)], streamed=streamed)
        assert raised.value.step == "normalize"
        assert [p.load_id for p in pipeline.list_failed_packages()] == [raised.value.load_id]
        errors.append(str(raised.value.exception).replace(raised.value.load_id, "<load id>"))
    assert errors[0] == errors[1]


def test_an_extract_failure_leaves_nothing_and_the_next_run_loads_once(
    pipelines_dir: str, tmp_path: Path, small_buffers: None
) -> None:
    fail = [True]

    @quiver.resource(name="flaky")
    def flaky() -> Iterator[list[dict[str, Any]]]:
        for page in range(5):
            if page == 3 and fail[0]:
                raise ConnectionError("the source went away")
            yield [{"id": i, "sub": [{"x": i}]} for i in range(page * 40, page * 40 + 40)]

    lake = Lake("delta", "local", f"file://{tmp_path / 'lake'}")
    pipeline = lake.pipeline(pipelines_dir, "flaky")
    with pytest.raises(PipelineStepFailed) as raised:
        pipeline.run(flaky())
    assert raised.value.step == "extract"
    storage = pipeline._storage
    assert list((storage.root / "tmp").iterdir()) == []
    assert not pipeline.has_pending_data
    assert not lake.exists("ds", "flaky")
    fail[0] = False
    pipeline.run(flaky())
    rows = lake.read("ds", "flaky")
    assert sorted(rows["id"].to_list()) == list(range(200))
    assert lake.read("ds", "flaky__sub").height == 200


# ------------------------------------------------------------------------------- overlap
def test_batches_are_normalized_while_later_ones_are_extracted(
    pipelines_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_buffers: None
) -> None:
    """With at most two batches queued, batch k is normalized before batch k+3 is extracted:
    the order of events proves the overlap without timing anything."""
    events: list[tuple[str, int]] = []
    put, write = StreamNormalizer.put, normalizer.TableNormalizer.write
    counts = {"extracted": 0, "normalized": 0}

    def recording_put(self: StreamNormalizer, *args: Any) -> None:
        put(self, *args)  # returns once the queue had room for the batch
        counts["extracted"] += 1
        events.append(("extracted", counts["extracted"]))

    def recording_write(self: normalizer.TableNormalizer, batch: pa.RecordBatch) -> None:
        write(self, batch)
        if threading.current_thread().name.startswith("quiver-normalize-"):
            counts["normalized"] += 1
            events.append(("normalized", counts["normalized"]))

    monkeypatch.setattr(StreamNormalizer, "put", recording_put)
    monkeypatch.setattr(normalizer.TableNormalizer, "write", recording_write)
    lake = Lake("delta", "local", f"file://{tmp_path / 'lake'}")
    lake.pipeline(pipelines_dir, "overlap").run(_nested_pages())
    assert counts == {"extracted": 6, "normalized": 6}
    for k in range(1, 4):
        assert events.index(("normalized", k)) < events.index(("extracted", k + 3)), events


def test_extract_and_normalize_of_other_steps_do_not_stream(
    pipelines_dir: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only ``run()`` overlaps: ``extract()`` alone gives the Extractor no sink."""
    sinks: list[Any] = []
    init = Extractor.__init__

    def recording_init(self: Extractor, *args: Any, **kwargs: Any) -> None:
        sinks.append(kwargs.get("sink"))
        init(self, *args, **kwargs)

    monkeypatch.setattr(Extractor, "__init__", recording_init)
    pipeline = Lake("delta", "local", f"file://{tmp_path / 'lake'}").pipeline(pipelines_dir, "p")
    pipeline.extract([{"id": 1}], table_name="t")
    pipeline.run([{"id": 2}], table_name="t")
    assert sinks[0] is None and isinstance(sinks[1], StreamNormalizer)


def _rows_then_arrow() -> Any:
    @quiver.resource(name="mixed")
    def mixed() -> Iterator[Any]:
        yield [{"id": i, "v": i} for i in range(40)]
        yield pa.table({"id": [100, 101], "v": ["a", "b"]})
        yield [{"id": i, "v": i} for i in range(200, 240)]

    return mixed()


@pytest.mark.usefixtures("small_buffers")
def test_a_table_of_rows_and_arrow_items_falls_back(
    pipelines_dir: str, tmp_path: Path, adopted: list[bool]
) -> None:
    """The package loop takes such a table file by file, the stream batch by batch: the first
    type of ``v`` could differ, so the extracted files decide."""
    lakes = _lakes(tmp_path, "delta")
    streamed = _run(lakes[0], pipelines_dir, "streamed", [_rows_then_arrow], streamed=True)
    assert adopted == [False]
    regular = _run(lakes[1], pipelines_dir, "regular", [_rows_then_arrow], streamed=False)
    _assert_same_lakes(streamed, regular, lakes)


@pytest.mark.usefixtures("small_buffers")
def test_two_sources_in_one_run_each_stream(
    pipelines_dir: str, tmp_path: Path, adopted: list[bool]
) -> None:
    def both() -> Any:
        return [_several_tables(), _nested_pages()]

    lakes = _lakes(tmp_path, "delta")
    streamed = _run(lakes[0], pipelines_dir, "streamed", [both], streamed=True)
    assert adopted == [True, True]
    for name in ("kind_0", "users__roles", "orders__items"):
        assert lakes[0].exists("ds", name), name
    assert lakes[0].read("ds", "orders").height == 240
    assert lakes[0].read("ds", "users").height == 150
    assert streamed.list_extracted_load_packages() == []


def test_a_package_dropped_as_empty_leaves_no_stream_behind(
    pipelines_dir: str, tmp_path: Path
) -> None:
    @quiver.resource(name="nothing")
    def nothing() -> Iterator[dict[str, Any]]:
        yield from ()

    pipeline = Lake("delta", "local", f"file://{tmp_path / 'lake'}").pipeline(pipelines_dir, "e")
    pipeline.run(nothing())
    assert list((pipeline._storage.root / "tmp").iterdir()) == []
    assert not pipeline.has_pending_data


# A child process that runs a pipeline and is killed with SIGKILL (no cleanup) mid-run.
KILLED_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import quiver

    pipelines_dir, bucket, stage = sys.argv[1:4]
    os.environ["DATA_WRITER__BUFFER_MAX_ITEMS"] = "100"
    p = quiver.pipeline("killed", pipelines_dir=pipelines_dir,
                        destination=quiver.destinations.filesystem(bucket_url=bucket),
                        dataset_name="ds")
    kill = lambda *_: os.kill(os.getpid(), signal.SIGKILL)

    def pages():
        for page in range(10):
            if stage == "during_extract" and page == 6:
                kill()  # five batches normalized or queued by the stream
            yield [{"id": i, "tags": [{"t": "a"}]} for i in range(page * 100, page * 100 + 100)]

    if stage == "before_loads_row":
        import quiver.load.sidecars
        quiver.load.sidecars.loads_row = kill  # the streamed package is normalized by then
    p.run(quiver.resource(pages, name="events")())
    """
)


@pytest.mark.parametrize("stage", ["during_extract", "before_loads_row"])
def test_a_run_killed_while_streaming_loads_exactly_once(
    pipelines_dir: str, bucket: Path, stage: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILLED_CHILD, pipelines_dir, str(bucket), stage],
        capture_output=True,
    )
    assert result.returncode == -9, result.stderr.decode()
    pipeline = quiver.attach("killed", pipelines_dir=pipelines_dir)
    assert pipeline.has_pending_data == (stage == "before_loads_row")
    if stage == "during_extract":
        rows = [{"id": i, "tags": [{"t": "a"}]} for i in range(1000)]
        pipeline.run(rows, table_name="events")
    else:
        pipeline.run()
    assert not pipeline.has_pending_data
    assert list((pipeline._storage.root / "tmp").iterdir()) == []
    events = delta_rows_polars(bucket / "ds" / "events", "id")
    assert [r["id"] for r in events] == list(range(1000))
    assert len(delta_rows_polars(bucket / "ds" / "events__tags", "_dlt_parent_id")) == 1000
