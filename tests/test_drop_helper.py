"""dlt's drop helper (``dlt.pipeline.helpers.drop`` / ``DropCommand``) and ``quiver pipeline drop``.

Behaviour from dlt's docs (``pipeline.drop`` API reference, ``dlt pipeline drop`` CLI reference):
resources are names or ``re:`` regexes (``drop_all`` supersedes them); their tables leave the
schema and, when they hold data, the destination; their resource state (incremental cursors
included) is reset, so the next run loads them again; ``state_paths`` are JSON paths relative to
the source state; ``state_only`` changes the state only; ``.info`` lists tables,
tables_with_data, resource_states, state_paths and warnings before anything happens; applying
raises ``PipelineHasPendingDataException`` while packages are pending. ``helpers.drop(...)``
applies at once (it returns ``None`` in dlt); ``DropCommand`` is the plan the CLI shows first.
Everything is read back with polars or pyiceberg, never through quiver.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import quiver as dlt
from quiver.pipeline.exceptions import InvalidDropArgument, PipelineHasPendingDataException
from quiver.pipeline.helpers import DropCommand, drop
from tests.readers import Lake

pytestmark = pytest.mark.slow  # several loads per test into real Delta / Iceberg tables

_TARGETS = [("delta", "local"), ("iceberg", "local"), ("delta", "s3")]


@pytest.fixture(params=_TARGETS, ids=[f"{f}-{fs}" for f, fs in _TARGETS])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    table_format, filesystem = request.param
    if filesystem == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        server = request.getfixturevalue("s3_server")
        return Lake(table_format, filesystem, f"{bucket}/lake", server.endpoint_url)
    return Lake(table_format, filesystem, f"file://{tmp_path / 'lake'}")


@pytest.fixture
def local_lake(tmp_path: Path) -> Lake:
    return Lake("delta", "local", f"file://{tmp_path / 'lake'}")


def shop() -> Any:
    """``orders`` (incremental on ``id``, nested ``lines``) and ``users`` (its own state)."""

    @dlt.resource(write_disposition="append")
    def orders(cursor: Any = dlt.sources.incremental("id", initial_value=0)) -> Any:  # noqa: B008
        yield [{"id": i, "lines": [{"sku": f"s{i}"}]} for i in (1, 2, 3)]

    @dlt.resource(write_disposition="append")
    def users() -> Any:
        dlt.current.resource_state()["pages"] = 2
        dlt.current.source_state().setdefault("tokens", ["a", "b", "c"])
        yield [{"id": 7, "name": "ann"}]

    @dlt.source(name="shop")
    def source() -> Any:
        return orders, users

    return source()


def _loaded(lake: Lake, pipelines_dir: str, name: str = "drops") -> Any:
    pipeline = lake.pipeline(pipelines_dir, name)
    pipeline.run(shop())
    return pipeline


def test_drop_removes_tables_and_state_and_the_next_run_reloads(
    lake: Lake, pipelines_dir: str, tmp_path: Path
) -> None:
    pipeline = _loaded(lake, pipelines_dir)
    assert lake.rows("ds", "orders__lines", "sku")[0]["sku"] == "s1"

    plan = DropCommand(pipeline, resources=["orders"])
    assert plan.info["tables"] == ["orders", "orders__lines"]
    assert plan.info["tables_with_data"] == ["orders", "orders__lines"]
    assert plan.info["resource_states"] == ["orders"]
    assert plan.info["warnings"] == []
    assert lake.exists("ds", "orders")  # .info is a dry run

    assert drop(pipeline, resources="orders") is None  # applies at once, as dlt's drop does

    assert not lake.exists("ds", "orders") and not lake.exists("ds", "orders__lines")
    assert [r["name"] for r in lake.rows("ds", "users", "id")] == ["ann"]
    assert "orders" not in pipeline.default_schema.tables
    assert "users" in pipeline.default_schema.tables
    resources = pipeline.state["sources"]["shop"]["resources"]
    assert "orders" not in resources and resources["users"] == {"pages": 2}

    # The new state went to the destination: a fresh working folder restores it from there.
    elsewhere = lake.pipeline(str(tmp_path / "elsewhere"), "drops")
    elsewhere.sync_destination()
    assert "orders" not in elsewhere.state["sources"]["shop"]["resources"]
    assert "orders" not in elsewhere.default_schema.tables

    pipeline.run(shop())  # the cursor was reset: every order loads again
    assert [r["id"] for r in lake.rows("ds", "orders", "id")] == [1, 2, 3]
    assert len(lake.rows("ds", "users", "id")) == 2  # users was untouched, and appended again


def test_state_only_keeps_the_tables_and_resets_the_cursor(
    local_lake: Lake, pipelines_dir: str
) -> None:
    pipeline = _loaded(local_lake, pipelines_dir)
    plan = DropCommand(pipeline, resources=["orders"], state_only=True)
    assert plan.info["tables"] == [] and plan.info["tables_with_data"] == []
    assert plan.info["resource_states"] == ["orders"]
    plan()
    assert [r["id"] for r in local_lake.rows("ds", "orders", "id")] == [1, 2, 3]
    assert "orders" in pipeline.default_schema.tables
    assert "orders" not in pipeline.state["sources"]["shop"]["resources"]
    pipeline.run(shop())  # the reset cursor loads the same orders again (append)
    assert [r["id"] for r in local_lake.rows("ds", "orders", "id")] == [1, 1, 2, 2, 3, 3]


def test_regex_drop_all_and_state_paths(local_lake: Lake, pipelines_dir: str) -> None:
    pipeline = _loaded(local_lake, pipelines_dir)
    assert DropCommand(pipeline, resources=["re:^ord"]).info["tables"] == [
        "orders",
        "orders__lines",
    ]
    everything = DropCommand(pipeline, drop_all=True, resources=["ignored"])
    assert set(everything.info["tables"]) == {"orders", "orders__lines", "users"}
    assert sorted(everything.info["resource_states"]) == ["orders", "users"]

    unknown = DropCommand(pipeline, resources=["nope"])
    assert unknown.is_empty and "did not select any table" in unknown.info["warnings"][0]
    unknown()  # nothing to do: nothing changes
    assert local_lake.exists("ds", "orders")

    paths = DropCommand(pipeline, state_paths=["tokens[0]", "$.missing"])
    assert paths.info["state_paths"] == ["shop.tokens.[0]"] and paths.info["tables"] == []
    paths()
    assert pipeline.state["sources"]["shop"]["tokens"] == ["b", "c"]
    DropCommand(pipeline, state_paths="*")()  # a wildcard never deletes "resources"
    assert pipeline.state["sources"]["shop"] == {
        "resources": pipeline.state["sources"]["shop"]["resources"]
    }
    assert "tokens" not in pipeline.state["sources"]["shop"]
    assert local_lake.exists("ds", "orders")

    with pytest.raises(InvalidDropArgument, match=r"re:\("):
        DropCommand(pipeline, resources=["re:("])
    with pytest.raises(InvalidDropArgument, match="no such schema"):
        DropCommand(pipeline, resources=["orders"], schema_name="other")


def test_pending_packages_refuse_the_drop(local_lake: Lake, pipelines_dir: str) -> None:
    pipeline = _loaded(local_lake, pipelines_dir)
    pipeline.extract(shop())
    plan = DropCommand(pipeline, resources=["orders"])
    with pytest.raises(PipelineHasPendingDataException, match="pending"):
        plan()
    assert local_lake.exists("ds", "orders") and "orders" in pipeline.default_schema.tables


def test_a_failed_load_keeps_the_tables_and_the_drop_can_run_again(
    local_lake: Lake, pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _loaded(local_lake, pipelines_dir)

    def refused(*args: Any, **kwargs: Any) -> bool:
        raise PermissionError("access denied to the bucket")

    monkeypatch.setattr("quiver.load.loader.apply_refresh", refused)
    with pytest.raises(Exception, match="access denied"):
        drop(pipeline, resources=["orders"])
    assert not pipeline.has_pending_data
    assert "orders" in pipeline.default_schema.tables  # the old schema is back
    assert local_lake.exists("ds", "orders")
    monkeypatch.undo()
    drop(pipeline, resources=["orders"])
    assert not local_lake.exists("ds", "orders")


def _quiver(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quiver", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )


def test_the_cli_shows_the_plan_asks_and_drops(local_lake: Lake, pipelines_dir: str) -> None:
    _loaded(local_lake, pipelines_dir)
    command = ("pipeline", "--pipelines-dir", pipelines_dir, "drops", "drop", "orders")
    declined = _quiver(*command, stdin="n\n")
    assert declined.returncode == 0, declined.stderr
    assert "orders__lines" in declined.stdout  # the plan is shown before the question
    assert local_lake.exists("ds", "orders")

    result = _quiver(*command, "--yes")
    assert result.returncode == 0, result.stderr
    assert "tables_with_data" in result.stdout and "orders__lines" in result.stdout
    assert not local_lake.exists("ds", "orders")
    assert local_lake.rows("ds", "users", "id")[0]["name"] == "ann"
