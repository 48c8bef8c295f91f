"""Settings: explicit argument > configuration > default, for every section and every step."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.errors import ConfigValueInvalid, ConfigValueMissing, QuiverError
from quiver.extract.extractor import Extractor
from quiver.load.loader import Loader
from quiver.normalize.stream import StreamNormalizer
from quiver.pipeline import pipeline as pipeline_module
from quiver.pipeline import steps as steps_module
from quiver.settings import (
    SECTIONS,
    BufferConfig,
    ExtractConfig,
    LoadConfig,
    NormalizeConfig,
    ParquetOptions,
    resolve,
)
from quiver.settings_catalog import describe

# (settings class, field, environment variable, configured text, configured value, explicit)
PRECEDENCE = [
    (ExtractConfig, "workers", "EXTRACT__WORKERS", "2", 2, 7),
    (BufferConfig, "buffer_max_items", "DATA_WRITER__BUFFER_MAX_ITEMS", "10", 10, 20),
    (BufferConfig, "file_max_items", "DATA_WRITER__FILE_MAX_ITEMS", "30", 30, 40),
    (BufferConfig, "file_max_bytes", "DATA_WRITER__FILE_MAX_BYTES", "1000", 1000, 2000),
    (NormalizeConfig, "workers", "NORMALIZE__WORKERS", "3", 3, 6),
    (
        NormalizeConfig,
        "add_dlt_load_id_to_arrow",
        "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID",
        "true",
        True,
        False,
    ),
    (
        NormalizeConfig,
        "add_dlt_id_to_arrow",
        "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID",
        "yes",
        True,
        False,
    ),
    (ParquetOptions, "compression", "NORMALIZE__PARQUET__COMPRESSION", "zstd", "zstd", "gzip"),
    (LoadConfig, "workers", "LOAD__WORKERS", "2", 2, 8),
    (LoadConfig, "raise_on_failed_jobs", "LOAD__RAISE_ON_FAILED_JOBS", "false", False, True),
]


@pytest.mark.parametrize(
    ("cls", "name", "env", "text", "configured", "explicit"),
    PRECEDENCE,
    ids=[f"{case[0].__name__}.{case[1]}" for case in PRECEDENCE],
)
def test_explicit_beats_config_beats_default(
    monkeypatch: pytest.MonkeyPatch,
    cls: type[Any],
    name: str,
    env: str,
    text: str,
    configured: Any,
    explicit: Any,
) -> None:
    default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
    # Each step of the order changes the value (booleans: explicit is the default again).
    assert configured != default and explicit != configured
    assert getattr(resolve(cls), name) == default
    monkeypatch.setenv(env, text)
    assert getattr(resolve(cls), name) == configured
    assert getattr(resolve(cls, **{name: explicit}), name) == explicit
    assert getattr(resolve(cls, **{name: None}), name) == configured  # None: not passed


def test_shorter_section_paths_are_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION", "gzip")
    assert resolve(NormalizeConfig).parquet.compression == "gzip"
    monkeypatch.setenv("NORMALIZE__COMPRESSION", "brotli")
    assert resolve(NormalizeConfig).parquet.compression == "brotli"
    monkeypatch.setenv("NORMALIZE__PARQUET__COMPRESSION", "zstd")
    assert resolve(NormalizeConfig).parquet.compression == "zstd"
    explicit = ParquetOptions(compression="lz4")
    assert resolve(NormalizeConfig, parquet=explicit).parquet is explicit


def test_data_writer_keys_are_looked_up_per_source_first(monkeypatch: pytest.MonkeyPatch) -> None:
    def file_max_items(source: str | None) -> int | None:
        return resolve(BufferConfig, source_name=source).file_max_items

    monkeypatch.setenv("FILE_MAX_ITEMS", "1")
    assert file_max_items("crm") == 1
    monkeypatch.setenv("DATA_WRITER__FILE_MAX_ITEMS", "2")
    assert file_max_items("crm") == 2
    monkeypatch.setenv("SOURCES__DATA_WRITER__FILE_MAX_ITEMS", "3")
    assert file_max_items("crm") == 3
    assert file_max_items(None) == 2  # no source: the source scopes are not consulted
    monkeypatch.setenv("SOURCES__CRM__DATA_WRITER__FILE_MAX_ITEMS", "4")
    assert (file_max_items("crm"), file_max_items("other")) == (4, 3)
    monkeypatch.setenv("SOURCES__CRM__FILE_MAX_ITEMS", "5")  # not a data_writer key
    assert file_max_items("crm") == 4
    monkeypatch.setenv("SOURCES__CRM__DATA_WRITER__FILE_MAX_ITEMS", "none")
    assert file_max_items("crm") is None  # "none": no limit, for this source only


def test_a_bad_value_names_the_key_and_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__CRM__DATA_WRITER__BUFFER_MAX_ITEMS", "lots")
    with pytest.raises(ConfigValueInvalid) as raised:
        resolve(BufferConfig, source_name="crm")
    error = raised.value
    assert isinstance(error, QuiverError) and isinstance(error, ValueError)
    assert error.key == "sources.crm.data_writer.buffer_max_items" and error.value == "lots"
    assert "'lots'" in str(error) and "SOURCES__CRM__DATA_WRITER__BUFFER_MAX_ITEMS" in str(error)
    monkeypatch.setenv("LOAD__RAISE_ON_FAILED_JOBS", "maybe")
    with pytest.raises(ConfigValueInvalid, match=r"load\.raise_on_failed_jobs='maybe'.*boolean"):
        resolve(LoadConfig)


def test_workers_below_one_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigValueInvalid, match=r"load\.workers=0 is not at least 1"):
        resolve(LoadConfig, workers=0)
    monkeypatch.setenv("NORMALIZE__WORKERS", "-1")
    with pytest.raises(ConfigValueInvalid, match="NORMALIZE__WORKERS"):
        resolve(NormalizeConfig)


def test_settings_are_frozen_and_unknown_arguments_refused() -> None:
    settings = resolve(LoadConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.workers = 2  # type: ignore[misc]
    with pytest.raises(TypeError, match="wrokers"):
        resolve(LoadConfig, wrokers=2)


def test_every_setting_is_documented() -> None:
    for cls in SECTIONS:
        assert cls.__doc__
        for info in describe(cls):
            assert len(info.doc) > 20, f"{cls.__name__}.{info.name} has no documentation"
            if info.key is not None:
                assert info.env == info.key.replace(".", "__").upper()
    keys = {info.key for cls in SECTIONS for info in describe(cls)}
    assert {
        "extract.workers",
        "data_writer.buffer_max_items",
        "data_writer.file_max_items",
        "data_writer.file_max_bytes",
        "normalize.workers",
        "normalize.parquet_normalizer.add_dlt_load_id",
        "normalize.parquet_normalizer.add_dlt_id",
        "normalize.parquet.compression",
        "load.workers",
        "load.raise_on_failed_jobs",
    } <= keys


def test_a_missing_config_value_is_a_key_error() -> None:
    with pytest.raises(ConfigValueMissing) as raised:
        quiver.config["sources.nowhere.api_key"]
    assert isinstance(raised.value, KeyError) and isinstance(raised.value, QuiverError)
    assert "Hint: set the SOURCES__NOWHERE__API_KEY variable" in str(raised.value)


# ------------------------------------------------------------------- through the pipeline steps
@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The settings the real Extractor, normalize_package and Loader were given by the steps."""
    recorded: dict[str, Any] = {}
    extract = Extractor.extract

    def recording_extract(self: Extractor, *args: Any, **kwargs: Any) -> Any:
        recorded["extract_workers"] = kwargs["workers"]
        return extract(self, *args, **kwargs)

    normalize = steps_module.normalize_package

    def recording_normalize(*args: Any, **kwargs: Any) -> Any:
        recorded["normalize"] = args[-1]
        return normalize(*args, **kwargs)

    class RecordingLoader(Loader):
        def __init__(self, *args: Any, config: LoadConfig, **kwargs: Any) -> None:
            recorded["load"] = config
            super().__init__(*args, config=config, **kwargs)

    monkeypatch.setattr(Extractor, "extract", recording_extract)
    monkeypatch.setattr(steps_module, "normalize_package", recording_normalize)
    # run() normalizes while it extracts (normalize.overlap_extract): the stream's settings.
    stream_init = StreamNormalizer.__init__

    def recording_stream(self: StreamNormalizer, *args: Any) -> None:
        recorded["normalize"] = args[-1]
        stream_init(self, *args)

    monkeypatch.setattr(StreamNormalizer, "__init__", recording_stream)
    monkeypatch.setattr(pipeline_module, "Loader", RecordingLoader)
    return recorded


def test_step_arguments_win_over_config_in_every_step(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch, seen: dict[str, Any]
) -> None:
    for section in ("EXTRACT", "NORMALIZE", "LOAD"):
        monkeypatch.setenv(f"{section}__WORKERS", "2")
    monkeypatch.setenv("LOAD__RAISE_ON_FAILED_JOBS", "false")
    pipeline = quiver.pipeline(
        "precedence",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
    )
    pipeline.extract([{"id": 1}], table_name="t", workers=3)
    pipeline.normalize(workers=3)
    info = pipeline.load(workers=8, raise_on_failed_jobs=True)
    assert seen["extract_workers"] == 3
    assert seen["normalize"].workers == 3
    assert (seen["load"].workers, seen["load"].raise_on_failed_jobs) == (8, True)
    assert info.loads_ids  # the steps ran with these settings

    pipeline.run([{"id": 2}], table_name="t")  # no arguments: the configuration applies
    assert seen["extract_workers"] == 2
    assert seen["normalize"].workers == 2
    assert (seen["load"].workers, seen["load"].raise_on_failed_jobs) == (2, False)


def test_step_defaults_without_config(
    pipelines_dir: str, bucket: Path, seen: dict[str, Any]
) -> None:
    quiver.pipeline(
        "defaults",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
    ).run([{"id": 1}], table_name="t")
    assert seen["extract_workers"] == ExtractConfig().workers == 5
    assert seen["normalize"] == NormalizeConfig()
    assert seen["load"] == LoadConfig()
