"""quiver.pipeline()/attach()/run(): defaults, stored arguments, dlt's signature."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import quiver
from quiver.pipeline.pipeline import Pipeline

SEED_SIGNATURE = [
    "pipeline_name",
    "pipelines_dir",
    "pipeline_salt",
    "destination",
    "staging",
    "dataset_name",
    "import_schema_path",
    "export_schema_path",
    "full_refresh",
    "dev_mode",
    "refresh",
    "progress",
]


def test_pipeline_accepts_dlts_signature() -> None:
    assert list(inspect.signature(quiver.pipeline).parameters) == SEED_SIGNATURE
    run_parameters = set(inspect.signature(Pipeline.run).parameters)
    assert {
        "destination",
        "dataset_name",
        "table_name",
        "write_disposition",
        "columns",
        "primary_key",
        "loader_file_format",
        "table_format",
        "schema_contract",
        "refresh",
    } <= run_parameters


def test_defaults_and_no_argument_call(tmp_path: Path) -> None:
    pipeline = quiver.pipeline()
    # Under pytest there is no user script, so the name is the fallback.
    assert pipeline.pipeline_name == "quiver_pipeline"
    assert pipeline.dataset_name == "quiver_pipeline_dataset"
    assert pipeline.working_dir == tmp_path / "quiver_home" / "pipelines" / "quiver_pipeline"
    assert quiver.pipeline() is pipeline
    other = quiver.pipeline("other")
    assert quiver.pipeline() is other


def test_default_name_comes_from_the_script(tmp_path: Path) -> None:
    script = tmp_path / "my_loader.py"
    script.write_text(
        textwrap.dedent(
            """
            import quiver
            p = quiver.pipeline()
            print(p.pipeline_name, p.dataset_name, p.default_schema_name)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [
        "quiver_my_loader",
        "quiver_my_loader_dataset",
        "quiver_my_loader",
    ]


def test_arguments_of_later_issues_are_stored(pipelines_dir: str) -> None:
    collector = object()
    pipeline = quiver.pipeline(
        "stored",
        pipelines_dir=pipelines_dir,
        pipeline_salt="salt",
        staging="filesystem",
        import_schema_path="schemas/import",
        export_schema_path="schemas/export",
        refresh="drop_sources",
        progress=collector,
    )
    assert pipeline.pipeline_salt == "salt"
    assert pipeline.staging == "filesystem"
    assert pipeline.import_schema_path == "schemas/import"
    assert pipeline.export_schema_path == "schemas/export"
    assert pipeline.refresh == "drop_sources"
    assert pipeline.collector is collector


def test_dev_mode_suffixes_dataset_and_wipes_folder(pipelines_dir: str) -> None:
    first = quiver.pipeline("dev", pipelines_dir=pipelines_dir)
    (first.working_dir / "marker").write_text("x")
    dev = quiver.pipeline("dev", pipelines_dir=pipelines_dir, dev_mode=True)
    assert dev.dataset_name.startswith("dev_dataset_")
    assert len(dev.dataset_name) == len("dev_dataset_") + 14
    assert not (dev.working_dir / "marker").exists()
    assert quiver.pipeline("dev2", pipelines_dir=pipelines_dir, full_refresh=True).dev_mode


def test_invalid_name_is_rejected(pipelines_dir: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        quiver.pipeline("a/b", pipelines_dir=pipelines_dir)


def test_attach_restores_destination_and_dataset(pipelines_dir: str, bucket: Path) -> None:
    quiver.pipeline(
        "att",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="mine",
    ).run([{"a": 1}], table_name="t")
    attached = quiver.attach("att", pipelines_dir=pipelines_dir)
    assert attached.dataset_name == "mine"
    assert attached.destination is not None
    assert attached.destination.resolved_bucket_url() == str(bucket)
    assert not attached.first_run
    with pytest.raises(quiver.CannotRestorePipelineException):
        quiver.attach("never_ran", pipelines_dir=pipelines_dir)


def test_module_run_uses_active_pipeline(pipelines_dir: str, bucket: Path) -> None:
    pipeline = quiver.pipeline(
        "active",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
    )
    info = quiver.run([{"a": 1}], table_name="t")
    assert info.pipeline_name == "active"
    assert pipeline.list_completed_load_packages() == info.loads_ids


def test_bucket_url_from_environment(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(bucket))
    quiver.pipeline("envp", pipelines_dir=pipelines_dir, destination="filesystem").run(
        [{"a": 1}], table_name="t"
    )
    assert (bucket / "envp_dataset" / "t" / "_delta_log").is_dir()


def test_import_quiver_stays_light() -> None:
    code = (
        "import sys, quiver\n"
        "heavy = [m for m in ('deltalake', 'pyiceberg', 's3fs', 'duckdb', 'pandas', 'polars')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
