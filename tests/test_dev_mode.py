# ruff: noqa: B008  (incremental cursors are declared as argument defaults: that is the API)
"""``dev_mode`` (and its deprecated alias ``full_refresh``), from dlt's pipeline reference page:
each instance starts from scratch (the working folder is wiped) and loads into a dataset with
a datetime suffix; state is not restored from the destination."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import quiver
from tests.readers import Lake

_SUFFIX = re.compile(r"_\d{14}$")


@quiver.resource(name="events")
def events(upto: int, cursor: Any = quiver.sources.incremental("id", initial_value=0)) -> Any:
    yield [{"id": i} for i in range(1, upto + 1)]


def _destination(lake: Lake) -> Any:
    return quiver.destinations.filesystem(
        bucket_url=lake.bucket_url, table_format=lake.table_format
    )


def test_dev_mode_suffixes_a_given_dataset_name_and_wipes_the_folder(tmp_path: Path) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    first = quiver.pipeline("dev", pipelines_dir=pipelines_dir, dataset_name="given")
    (first.working_dir / "marker").write_text("x")
    dev = quiver.pipeline("dev", pipelines_dir=pipelines_dir, dataset_name="given", dev_mode=True)
    assert dev.dev_mode
    assert dev.dataset_name.startswith("given_") and _SUFFIX.search(dev.dataset_name)
    assert not (dev.working_dir / "marker").exists()
    trailing = quiver.pipeline(
        "dev2", pipelines_dir=pipelines_dir, dataset_name="x_", dev_mode=True
    )
    assert re.fullmatch(r"x_\d{14}", trailing.dataset_name)  # no double underscore


def test_dev_mode_skips_restore(any_lake: Lake, tmp_path: Path) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    normal = quiver.pipeline("dm", pipelines_dir=pipelines_dir, destination=_destination(any_lake))
    normal.run(events(3))
    dev = quiver.pipeline(
        "dm", pipelines_dir=pipelines_dir, destination=_destination(any_lake), dev_mode=True
    )
    dev.run(events(3))
    assert dev.dataset_name != normal.dataset_name
    assert any_lake.read(dev.dataset_name, "events").height == 3  # its cursor started afresh
    assert dev.state["sources"]["dm"]["resources"]["events"]["incremental"]["id"]["last_value"] == 3


def test_full_refresh_is_the_deprecated_alias(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="full_refresh is deprecated"):
        alias = quiver.pipeline("fr", pipelines_dir=str(tmp_path), full_refresh=True)
    assert alias.dev_mode and _SUFFIX.search(alias.dataset_name)
    with pytest.warns(DeprecationWarning):
        off = quiver.pipeline("fr2", pipelines_dir=str(tmp_path), full_refresh=False, dev_mode=True)
    assert not off.dev_mode  # the alias, when given, decides (as in dlt)


def test_attach_keeps_the_dev_flag_and_dataset(tmp_path: Path) -> None:
    lake = Lake("delta", "local", f"file://{tmp_path / 'lake'}")
    pipelines_dir = str(tmp_path / "pipelines")
    dev = quiver.pipeline(
        "keep", pipelines_dir=pipelines_dir, destination=_destination(lake), dev_mode=True
    )
    dev.run(events(2))
    attached = quiver.attach("keep", pipelines_dir=pipelines_dir)
    assert attached.dev_mode and attached.dataset_name == dev.dataset_name
    assert (Path(pipelines_dir) / "keep" / "state.json").exists()  # not wiped by attach


def test_a_former_dev_folder_is_reset_for_a_normal_pipeline(tmp_path: Path) -> None:
    lake = Lake("delta", "local", f"file://{tmp_path / 'lake'}")
    pipelines_dir = str(tmp_path / "pipelines")
    dev = quiver.pipeline(
        "was_dev", pipelines_dir=pipelines_dir, destination=_destination(lake), dev_mode=True
    )
    dev.run(events(2))
    normal = quiver.pipeline("was_dev", pipelines_dir=pipelines_dir, destination=_destination(lake))
    assert not normal.dev_mode
    assert normal.dataset_name == "was_dev_dataset"
    assert normal.state["sources"] == {} and normal.first_run
    shutil.rmtree(pipelines_dir)
