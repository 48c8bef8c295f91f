"""``staging``: normalized files placed on a filesystem location before each table commit.

dlt's staging page: a staging storage is "typically an S3/GCP bucket where loader files are
copied before they are loaded by the destination"; only the filesystem destination can be a
staging (``staging="filesystem"``, bucket from ``DESTINATION__FILESYSTEM__BUCKET_URL``, or
``dlt.destinations.filesystem(bucket_url=...)``). Files keep the filesystem layout
``<dataset>/<table>/<load_id>.<file_id>.<ext>``; with ``truncate_tables_on_staging_destination
_before_load`` (default true) the staged files of earlier loads of a table are deleted before
it loads again, and staged files are kept after the load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import quiver
from quiver.errors import ConfigFieldMissingException, DestinationConfigError, PipelineStepFailed
from quiver.load.loader import Loader
from tests.readers import Lake


def _staging_url(lake: Lake) -> str:
    """A staging bucket beside the lake, on the same filesystem."""
    return lake.bucket_url.rsplit("/lake", 1)[0] + "/staging"


def _staged(lake: Lake, staging_url: str, table: str) -> dict[str, list[dict[str, Any]]]:
    """Staged file name → its rows, read with fsspec + pyarrow (not through quiver)."""
    fs = lake._fsspec()
    fs.invalidate_cache()  # fsspec caches instances and listings
    folder = f"{staging_url.removeprefix('file://')}/ds/{table}"
    if not fs.exists(folder):
        return {}
    staged = {}
    for path in sorted(fs.ls(folder, detail=False)):
        with fs.open(path, "rb") as handle:
            rows = pq.read_table(handle).select(["id"]).to_pylist()
        staged[str(path).rsplit("/", 1)[-1]] = sorted(rows, key=lambda r: r["id"])
    return staged


@pytest.mark.slow
@pytest.mark.parametrize("disposition", ["append", "replace", "merge"])
def test_files_are_staged_before_each_commit_and_the_tables_load_as_without_staging(
    any_lake: Lake, pipelines_dir: str, disposition: str
) -> None:
    staging_url = _staging_url(any_lake)
    pipeline = quiver.pipeline(
        f"staged_{disposition}",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(
            bucket_url=any_lake.bucket_url, table_format=any_lake.table_format
        ),
        staging=quiver.destinations.filesystem(bucket_url=staging_url),
        dataset_name="ds",
    )
    hints: dict[str, Any] = {"table_name": "items", "write_disposition": disposition}
    if disposition == "merge":
        hints["primary_key"] = "id"
    first = pipeline.run([{"id": 1, "v": "a"}, {"id": 2, "v": "b"}], **hints)
    staged = _staged(any_lake, staging_url, "items")
    assert list(staged.values()) == [[{"id": 1}, {"id": 2}]]
    (name,) = staged
    assert name.startswith(first.loads_ids[0] + ".") and name.endswith(".parquet")

    second = pipeline.run([{"id": 2, "v": "c"}, {"id": 3, "v": "d"}], **hints)
    # dlt's default truncate_tables_on_staging_destination_before_load=true: only the newest
    # load's files stay; they are kept after the commit.
    staged = _staged(any_lake, staging_url, "items")
    assert list(staged.values()) == [[{"id": 2}, {"id": 3}]]
    assert next(iter(staged)).startswith(second.loads_ids[0] + ".")

    rows = [(r["id"], r["v"]) for r in any_lake.rows("ds", "items", "id")]
    expected = {
        "append": [(1, "a"), (2, "b"), (2, "c"), (3, "d")],
        "replace": [(2, "c"), (3, "d")],
        "merge": [(1, "a"), (2, "c"), (3, "d")],
    }[disposition]
    assert sorted(rows) == expected


def test_truncation_can_be_turned_off_to_keep_every_load(
    bucket: Path, tmp_path: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "DESTINATION__FILESYSTEM__TRUNCATE_TABLES_ON_STAGING_DESTINATION_BEFORE_LOAD", "false"
    )
    staging = tmp_path / "staging"
    pipeline = quiver.pipeline(
        "keep_all",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        staging=quiver.destinations.filesystem(bucket_url=str(staging)),
        dataset_name="ds",
    )
    loads = [pipeline.run([{"id": i}], table_name="items").loads_ids[0] for i in (1, 2)]
    names = sorted(p.name for p in (staging / "ds" / "items").iterdir())
    assert [name.split(".parquet")[0].rsplit(".", 1)[0] for name in names] == loads


def test_staging_filesystem_reads_its_bucket_from_config_and_a_named_one_too(
    bucket: Path, tmp_path: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dlt's page: staging="filesystem" with the bucket in DESTINATION__FILESYSTEM__BUCKET_URL.
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(tmp_path / "staging"))
    lake = quiver.destinations.filesystem(bucket_url=str(bucket))
    pipeline = quiver.pipeline(
        "by_config", pipelines_dir=pipelines_dir, destination=lake, dataset_name="ds"
    )
    pipeline.run([{"id": 1}], table_name="items", staging="filesystem")
    assert len(list((tmp_path / "staging" / "ds" / "items").iterdir())) == 1

    monkeypatch.setenv("DESTINATION__MY_STAGING__DESTINATION_TYPE", "filesystem")
    monkeypatch.setenv("DESTINATION__MY_STAGING__BUCKET_URL", str(tmp_path / "named"))
    pipeline.run([{"id": 2}], table_name="items", staging="my_staging")
    assert len(list((tmp_path / "named" / "ds" / "items").iterdir())) == 1
    assert pipeline.state["staging"]["destination_name"] == "my_staging"


def test_staging_is_kept_in_the_state_without_secrets_and_attach_restores_it(
    s3_bucket: str, tmp_path: Path, bucket: Path, pipelines_dir: str
) -> None:
    lake = Lake("delta", "s3", f"{s3_bucket}/lake")
    # The key and secret embedded in the URL fill the credentials and never reach the state.
    with_secret = s3_bucket.replace("s3://", "s3://testing:testing@") + "/staging"
    quiver.pipeline(
        "restored",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        staging=quiver.destinations.filesystem(bucket_url=with_secret),
        dataset_name="ds",
    )
    state_text = (Path(pipelines_dir) / "restored" / "state.json").read_text()
    assert json.loads(state_text)["staging"]["bucket_url"] == f"{s3_bucket}/staging"
    assert "testing" not in state_text

    attached = quiver.attach("restored", pipelines_dir=pipelines_dir)
    info = attached.run([{"id": 7}], table_name="items")
    staged = _staged(lake, f"{s3_bucket}/staging", "items")
    assert list(staged.values()) == [[{"id": 7}]]
    assert next(iter(staged)).startswith(info.loads_ids[0] + ".")


def test_a_retried_package_stages_the_same_names_and_loads_once(
    bucket: Path, tmp_path: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = tmp_path / "staging"
    pipeline = quiver.pipeline(
        "retried",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        staging=quiver.destinations.filesystem(bucket_url=str(staging)),
        dataset_name="ds",
    )

    def crash_after_staging(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("process died between staging and the table commit")

    with monkeypatch.context() as patch:
        patch.setattr(Loader, "_commit", crash_after_staging)
        with pytest.raises(PipelineStepFailed):
            pipeline.run([{"id": 1}, {"id": 2}], table_name="items")
    (load_id,) = pipeline.list_normalized_load_packages()
    staged_before = sorted(p.name for p in (staging / "ds" / "items").iterdir())
    assert len(staged_before) == 1 and staged_before[0].startswith(load_id + ".")

    info = pipeline.load()
    assert info.loads_ids == [load_id]
    assert sorted(p.name for p in (staging / "ds" / "items").iterdir()) == staged_before
    import polars as pl

    assert pl.read_delta(str(bucket / "ds" / "items"))["id"].sort().to_list() == [1, 2]


def test_staging_that_is_not_a_usable_filesystem_location_raises(
    bucket: Path, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigFieldMissingException, match="BUCKET_URL"):
        quiver.pipeline("no_bucket", pipelines_dir=pipelines_dir, staging="filesystem")
    with pytest.raises(DestinationConfigError, match="not supported"):
        quiver.pipeline("warehouse", pipelines_dir=pipelines_dir, staging="bigquery")
    with pytest.raises(DestinationConfigError, match="layout"):
        quiver.pipeline(
            "layout",
            pipelines_dir=pipelines_dir,
            staging=quiver.destinations.filesystem(
                bucket_url=str(bucket), layout="{table_name}/{load_id}.{ext}"
            ),
        )
    # Staging in the destination's own bucket would put files among the table files.
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(bucket))
    pipeline = quiver.pipeline(
        "overlap", pipelines_dir=pipelines_dir, destination="filesystem", staging="filesystem"
    )
    with pytest.raises(Exception, match="overlaps the destination") as raised:
        pipeline.run([{"id": 1}], table_name="items")
    assert isinstance(raised.value, DestinationConfigError) or isinstance(
        raised.value.__cause__, DestinationConfigError
    )
    assert not (bucket / "overlap_dataset" / "items").exists()


def test_attach_from_the_dataset_restores_the_staging_location(
    bucket: Path, tmp_path: Path, pipelines_dir: str
) -> None:
    import shutil

    lake = quiver.destinations.filesystem(bucket_url=str(bucket))
    staging = tmp_path / "staging"
    pipeline = quiver.pipeline(
        "lost_folder",
        pipelines_dir=pipelines_dir,
        destination=lake,
        staging=quiver.destinations.filesystem(bucket_url=str(staging)),
        dataset_name="ds",
    )
    pipeline.run([{"id": 1}], table_name="items")
    shutil.rmtree(pipeline.working_dir)  # a new CI runner: only the lake is left

    attached = quiver.attach(
        "lost_folder", pipelines_dir=pipelines_dir, destination=lake, dataset_name="ds"
    )
    info = attached.run([{"id": 2}], table_name="items")
    (name,) = [p.name for p in (staging / "ds" / "items").iterdir()]
    assert name.startswith(info.loads_ids[0] + ".")
