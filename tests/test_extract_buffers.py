"""Buffering and file rotation knobs (config section ``data_writer``, also per source)."""

from __future__ import annotations

from pathlib import Path

import pytest

import quiver
from quiver.settings import DEFAULT_BUFFER_MAX_ITEMS, buffer_config
from tests.extract_support import extracted_batches, make_pipeline, table_rows


def _rows(count: int) -> list[dict[str, int]]:
    return [{"id": i, "v": i * 2} for i in range(count)]


def test_defaults() -> None:
    config = buffer_config("any")
    assert config.buffer_max_items == DEFAULT_BUFFER_MAX_ITEMS == 100_000
    assert config.file_max_items is None and config.file_max_bytes is None


def test_buffer_max_items_sets_the_batch_size(
    pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "10")

    @quiver.resource
    def rows():
        for start in range(0, 25, 5):
            yield [{"id": i} for i in range(start, start + 5)]

    pipeline = quiver.pipeline("buffers", pipelines_dir=pipelines_dir)
    pipeline.extract(rows())
    (batches,) = extracted_batches(pipeline)["rows"]  # one file, one schema
    assert [b.num_rows for b in batches] == [10, 10, 5]


def test_file_max_items_rotates_files(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_WRITER__FILE_MAX_ITEMS", "40")
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "25")
    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.extract(quiver.resource(_rows(100), name="rotated"))
    files = extracted_batches(pipeline)["rotated"]
    assert sorted(sum(b.num_rows for b in file) for file in files) == [20, 40, 40]
    pipeline.normalize()
    pipeline.load()
    assert [r["id"] for r in table_rows(bucket, "rotated")] == list(range(100))


def test_file_max_bytes_rotates_files(pipelines_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_WRITER__FILE_MAX_BYTES", "1")
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "10")
    pipeline = quiver.pipeline("bytes", pipelines_dir=pipelines_dir)
    rows = _rows(30)
    pages = (rows[i : i + 10] for i in range(0, 30, 10))
    pipeline.extract(quiver.resource(pages, name="small_files"))
    files = extracted_batches(pipeline)["small_files"]
    assert [sum(b.num_rows for b in file) for file in files] == [10, 10, 10]


def test_per_source_settings_win(pipelines_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_WRITER__FILE_MAX_ITEMS", "50")
    monkeypatch.setenv("SOURCES__NARROW__DATA_WRITER__FILE_MAX_ITEMS", "10")
    assert buffer_config("narrow").file_max_items == 10
    assert buffer_config("other").file_max_items == 50

    @quiver.source
    def narrow():
        return quiver.resource(_rows(30), name="n")

    pipeline = quiver.pipeline("per_source", pipelines_dir=pipelines_dir)
    pipeline.extract(narrow())
    assert len(extracted_batches(pipeline)["n"]) == 3


def test_bad_setting_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "lots")
    with pytest.raises(ValueError, match="buffer_max_items"):
        buffer_config(None)
