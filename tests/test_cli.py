"""The ``quiver`` command, run as a user runs it: a real subprocess per command.

Behaviour from dlt's command-line reference (``dlt pipeline``): ``--list`` lists the pipelines
of a pipelines folder; ``<name> info`` shows state, resources and packages (``-v`` more);
``trace`` the last run; ``schema --format yaml|json`` the default schema; ``load-package [id]``
a package (default the newest) with its jobs; ``failed-jobs``; ``drop-pending-packages`` asks
before deleting; ``sync`` drops the local state and restores it from the destination; ``drop``
drops resources. quiver prints errors on stderr with exit code 1 and no traceback, and never
prints credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import quiver

pytestmark = pytest.mark.slow  # every command is a new Python process

CONSOLE_SCRIPT = Path(sys.executable).parent / "quiver"


def _quiver(
    *args: str, stdin: str | None = None, module: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "quiver"] if module else [str(CONSOLE_SCRIPT)]
    return subprocess.run(
        [*command, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )


def _pipeline(pipelines_dir: str, bucket: Path, name: str = "shop") -> quiver.Pipeline:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="shop_data",
    )


@pytest.fixture
def shop(pipelines_dir: str, bucket: Path) -> quiver.Pipeline:
    pipeline = _pipeline(pipelines_dir, bucket)
    pipeline.run([{"id": 1, "lines": [{"sku": "a"}, {"sku": "b"}]}], table_name="orders")
    pipeline.run([{"id": 2, "lines": []}], table_name="orders")
    return pipeline


def test_version_from_the_console_script_and_the_module() -> None:
    for module in (False, True):
        result = _quiver("--version", module=module)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"quiver {quiver.__version__}"


def test_list_pipelines(shop: quiver.Pipeline, pipelines_dir: str, tmp_path: Path) -> None:
    result = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "--list")
    assert result.returncode == 0, result.stderr
    assert "1 pipeline(s) found" in result.stdout and "shop" in result.stdout
    empty = _quiver("pipeline", "--pipelines-dir", str(tmp_path / "none"), "-l")
    assert empty.returncode == 0 and "No pipelines found" in empty.stdout


def test_info_shows_state_resources_and_packages(shop: quiver.Pipeline, pipelines_dir: str) -> None:
    result = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop", "info")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dataset_name: shop_data" in out
    assert "orders with 2 table(s)" in out
    for load_id in shop.list_completed_load_packages():
        assert load_id in out
    assert "Has 2 completed load packages" in out
    assert "Pipeline has last run trace" in out
    verbose = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop", "info", "-v")
    assert "orders__lines table" in verbose.stdout and "received data" in verbose.stdout


def test_trace_shows_the_last_run(shop: quiver.Pipeline, pipelines_dir: str) -> None:
    result = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop", "trace")
    assert result.returncode == 0, result.stderr
    for step in ("extract", "normalize", "load"):
        assert f"Step {step} COMPLETED" in result.stdout
    assert "orders: 1 row(s)" in result.stdout


def test_schema_as_yaml_and_json_on_stdout_alone(shop: quiver.Pipeline, pipelines_dir: str) -> None:
    as_yaml = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop", "schema")
    assert as_yaml.returncode == 0, as_yaml.stderr
    document = yaml.safe_load(as_yaml.stdout)
    assert document["name"] == "shop" and "orders__lines" in document["tables"]
    as_json = _quiver(
        "pipeline", "--pipelines-dir", pipelines_dir, "shop", "schema", "--format", "json"
    )
    assert json.loads(as_json.stdout)["tables"]["orders"]["columns"]["id"]["data_type"] == "bigint"
    bad = _quiver(
        "pipeline", "--pipelines-dir", pipelines_dir, "shop", "schema", "--format", "dbml"
    )
    assert bad.returncode == 2 and "dbml" in bad.stderr


def test_load_package_newest_by_id_and_a_bad_id(shop: quiver.Pipeline, pipelines_dir: str) -> None:
    first, newest = shop.list_completed_load_packages()
    result = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop", "load-package")
    assert result.returncode == 0, result.stderr
    assert f"Package {newest} found in" in result.stdout and "LOADED" in result.stdout
    by_id = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop", "load-package", first)
    assert f"Package {first} found in" in by_id.stdout
    assert "orders__lines" in by_id.stdout  # the first package has child rows
    bad = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop", "load-package", "123.4")
    assert bad.returncode == 1 and bad.stdout == ""
    assert "123.4" in bad.stderr and "Traceback" not in bad.stderr


def test_an_unknown_pipeline_is_an_error_on_stderr(pipelines_dir: str) -> None:
    for command in ("info", "trace", "schema", "load-package", "show"):
        result = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "nope", command)
        assert result.returncode == 1, command
        assert "Pipeline 'nope' was not found" in result.stderr and "Hint:" in result.stderr
        assert "Traceback" not in result.stderr
    missing = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop")
    assert missing.returncode == 2 and "Missing command" in missing.stderr


def test_failed_jobs_checks_every_package(shop: quiver.Pipeline, pipelines_dir: str) -> None:
    result = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop", "failed-jobs")
    assert result.returncode == 0, result.stderr
    for load_id in shop.list_completed_load_packages():
        assert f"Checking failed jobs in load id '{load_id}'" in result.stdout
    assert result.stdout.count("No failed jobs found") == 2


def test_drop_pending_packages_asks_first(pipelines_dir: str, bucket: Path) -> None:
    pipeline = _pipeline(pipelines_dir, bucket, "pending")
    pipeline.extract([{"id": 1}], table_name="orders")
    args = ("pipeline", "--pipelines-dir", pipelines_dir, "pending", "drop-pending-packages")
    declined = _quiver(*args, stdin="n\n")
    assert declined.returncode == 0 and "Delete the above packages?" in declined.stdout
    assert quiver.attach("pending", pipelines_dir=pipelines_dir).list_extracted_load_packages()
    accepted = _quiver(*args, "--yes")
    assert "Pending packages deleted" in accepted.stdout
    assert not quiver.attach("pending", pipelines_dir=pipelines_dir).has_pending_data
    nothing = _quiver(*args)
    assert "No pending packages found" in nothing.stdout


def test_sync_restores_state_and_schemas_from_the_dataset(
    shop: quiver.Pipeline, pipelines_dir: str, bucket: Path, tmp_path: Path
) -> None:
    result = _quiver("pipeline", "--pipelines-dir", pipelines_dir, "shop", "sync", "--yes")
    assert result.returncode == 0, result.stderr
    assert "Restoring from destination" in result.stdout
    restored = quiver.attach("shop", pipelines_dir=pipelines_dir)
    assert not restored.first_run and restored.schema_names == ["shop"]
    assert "orders__lines" in restored.default_schema.tables

    elsewhere = str(tmp_path / "elsewhere")  # no working folder: restore from the bucket
    args = ("pipeline", "--pipelines-dir", elsewhere, "shop", "sync")
    fresh = _quiver(*args, "--bucket-url", str(bucket), "--dataset-name", "shop_data")
    assert fresh.returncode == 0, fresh.stderr
    assert quiver.attach("shop", pipelines_dir=elsewhere).schema_names == ["shop"]
    other = ("pipeline", "--pipelines-dir", str(tmp_path / "other"), "shop", "sync")
    nowhere = _quiver(*other, "--bucket-url", str(tmp_path / "empty"), "--dataset-name", "x")
    assert nowhere.returncode == 1 and "Cannot restore pipeline 'shop'" in nowhere.stderr


def test_show_writes_the_html_page(
    shop: quiver.Pipeline, pipelines_dir: str, tmp_path: Path
) -> None:
    target = tmp_path / "page.html"
    result = _quiver(
        "pipeline", "--pipelines-dir", pipelines_dir, "shop", "show", "-o", str(target), module=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(target)
    assert "orders__lines" in target.read_text()


def test_no_command_prints_credentials(
    s3_bucket: str, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "cli-secret-9f3b2a"  # the S3 server accepts any key
    monkeypatch.setenv("DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    pipeline = quiver.pipeline(
        "secretive",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=f"{s3_bucket}/lake"),
    )
    pipeline.run([{"id": 1}], table_name="items")
    outputs: list[Any] = []
    base = ("pipeline", "--pipelines-dir", pipelines_dir, "secretive")
    for args in (("info", "-v"), ("trace", "-v"), ("load-package", "-v"), ("schema",)):
        result = _quiver(*base, *args)
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    page = tmp_path / "secretive.html"
    shown = _quiver(*base, "show", "-o", str(page))
    assert shown.returncode == 0, shown.stderr
    outputs.append(page.read_text())
    assert "items" in outputs[0] and s3_bucket.removeprefix("s3://") in outputs[0]
    assert all(secret not in text for text in outputs)
