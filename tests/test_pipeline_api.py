"""quiver.pipeline()/attach()/run(): defaults, dlt's signature, arguments not supported yet."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import quiver
from quiver.errors import NotSupportedYet, ResourceNameMissing
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


def test_import_and_export_schema_paths_are_kept(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline(
        "paths",
        pipelines_dir=pipelines_dir,
        import_schema_path="schemas/import",
        export_schema_path="schemas/export",
    )
    assert pipeline.import_schema_path == "schemas/import"
    assert pipeline.export_schema_path == "schemas/export"


def test_unsupported_arguments_default_to_none_and_are_accepted(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline(
        "nones",
        pipelines_dir=pipelines_dir,
        pipeline_salt=None,
        staging=None,
        refresh=None,
        progress=None,
    )
    assert quiver.attach("nones", pipelines_dir=pipelines_dir, staging=None).pipeline_name == (
        pipeline.pipeline_name
    )


@pytest.mark.parametrize(
    ("step", "argument", "value"),
    [
        ("run", "schema", "a_schema"),
        ("extract", "schema", "a_schema"),
    ],
)
def test_run_and_extract_arguments_not_supported_yet_raise(
    pipelines_dir: str, bucket: Path, step: str, argument: str, value: str
) -> None:
    pipeline = quiver.pipeline(
        "steps",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
    )
    with pytest.raises(NotSupportedYet, match=f"{argument}={value!r} is not supported yet"):
        getattr(pipeline, step)([{"a": 1}], table_name="t", **{argument: value})
    assert not pipeline.has_pending_data  # nothing was extracted
    assert pipeline.run([{"a": 1}], table_name="t", refresh=None, schema=None, staging=None)


def test_dev_mode_suffixes_dataset_and_wipes_folder(pipelines_dir: str) -> None:
    first = quiver.pipeline("dev", pipelines_dir=pipelines_dir)
    (first.working_dir / "marker").write_text("x")
    dev = quiver.pipeline("dev", pipelines_dir=pipelines_dir, dev_mode=True)
    assert dev.dataset_name.startswith("dev_dataset_")
    assert len(dev.dataset_name) == len("dev_dataset_") + 14
    assert not (dev.working_dir / "marker").exists()
    with pytest.warns(DeprecationWarning, match="full_refresh is deprecated"):
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


def test_pipeline_exceptions_at_dlts_import_path(pipelines_dir: str) -> None:
    from quiver.pipeline.exceptions import CannotRestorePipelineException, PipelineStepFailed

    assert PipelineStepFailed is quiver.errors.PipelineStepFailed
    with pytest.raises(CannotRestorePipelineException):
        quiver.attach("never_ran", pipelines_dir=pipelines_dir)


def test_data_without_a_name_is_explained(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline("unnamed", pipelines_dir=pipelines_dir)
    with pytest.raises(ResourceNameMissing, match="table_name=") as raised:
        pipeline.extract([{"a": 1}])
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, quiver.QuiverError)
