# ruff: noqa: B008  (incremental cursors are declared as argument defaults: that is the API)
"""The uses of ``attach`` that dlt's attach reference page describes, with a filesystem
destination: reconnect to a pipeline to inspect or resume it, override its destination,
restore it from a destination when there is no local state, fall back when it cannot be
restored (``CannotRestorePipelineException`` from ``dlt.pipeline.exceptions``), and several
processes attaching to one pipeline at once.

(The page's own code blocks could not be read in full from the tools available here; the tests
follow the page's description of each use, listed in the module docstring above.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.pipeline.exceptions import CannotRestorePipelineException
from tests.readers import Lake


@quiver.resource(name="orders", primary_key="id")
def orders(upto: int, cursor: Any = quiver.sources.incremental("id", initial_value=0)) -> Any:
    yield [{"id": i} for i in range(1, upto + 1)]


def _destination(lake: Lake) -> Any:
    return quiver.destinations.filesystem(
        bucket_url=lake.bucket_url, table_format=lake.table_format
    )


def _created(lake: Lake, pipelines_dir: str, name: str = "page") -> Any:
    pipeline = quiver.pipeline(
        name, pipelines_dir=pipelines_dir, destination=_destination(lake), dataset_name="ds"
    )
    pipeline.run(orders(3))
    return pipeline


def test_attach_to_inspect_and_resume(any_lake: Lake, tmp_path: Path) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    created = _created(any_lake, pipelines_dir)
    pipeline = quiver.attach(pipeline_name="page", pipelines_dir=pipelines_dir)
    assert pipeline.pipeline_name == "page" and pipeline.dataset_name == "ds"
    assert pipeline.state["sources"] == created.state["sources"]
    assert pipeline.list_completed_load_packages() == created.list_completed_load_packages()
    assert pipeline.default_schema.tables.keys() == created.default_schema.tables.keys()
    pipeline.run(orders(5))
    assert [r["id"] for r in any_lake.rows("ds", "orders", "id")] == [1, 2, 3, 4, 5]


def test_attach_with_a_preconfigured_destination(any_lake: Lake, tmp_path: Path) -> None:
    pipelines_dir = str(tmp_path / "pipelines")
    _created(any_lake, pipelines_dir)
    other = Lake(any_lake.table_format, "local", f"file://{tmp_path / 'other'}")
    pipeline = quiver.attach("page", pipelines_dir=pipelines_dir, destination=_destination(other))
    assert pipeline.destination is not None
    assert pipeline.destination.bucket_url == other.bucket_url
    pipeline.run([{"id": 1}], table_name="moved")
    assert other.rows("ds", "moved", "id") == [{"id": 1, **_lineage(other, "moved")}]


def _lineage(lake: Lake, table: str) -> dict[str, Any]:
    row = lake.read("ds", table).to_dicts()[0]
    return {k: v for k, v in row.items() if k.startswith("_dlt_")}


def test_attach_restores_from_destination_and_dataset(any_lake: Lake, tmp_path: Path) -> None:
    _created(any_lake, str(tmp_path / "elsewhere"))  # another machine's working folder
    pipeline = quiver.attach(
        pipeline_name="page",
        pipelines_dir=str(tmp_path / "here"),
        destination=_destination(any_lake),
        dataset_name="ds",
    )
    assert (
        pipeline.state["sources"]["page"]["resources"]["orders"]["incremental"]["id"]["last_value"]
        == 3
    )
    pipeline.run(orders(4))
    assert [r["id"] for r in any_lake.rows("ds", "orders", "id")] == [1, 2, 3, 4]


def test_attach_or_create(tmp_path: Path) -> None:
    """The fallback pattern: attach, and create the pipeline when it cannot be restored."""
    lake = Lake("delta", "local", f"file://{tmp_path / 'lake'}")
    try:
        pipeline = quiver.attach(
            "new_one", pipelines_dir=str(tmp_path), destination=_destination(lake)
        )
    except CannotRestorePipelineException:
        pipeline = quiver.pipeline(
            "new_one", pipelines_dir=str(tmp_path), destination=_destination(lake)
        )
    assert pipeline.first_run
    pipeline.run(orders(2))
    assert quiver.attach("new_one", pipelines_dir=str(tmp_path)).first_run is False


# ---------------------------------------------------------------------- several processes
_WORKER = textwrap.dedent(
    """
    import sys
    import quiver

    name, pipelines_dir, worker = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.stdin.readline()  # every worker starts when the test says so

    @quiver.resource(name=f"orders_{worker}", primary_key="id")
    def orders(cursor=quiver.sources.incremental("id", initial_value=0)):
        yield [{"id": worker * 1000 + i, "worker": worker} for i in range(50)]

    pipeline = quiver.attach(name, pipelines_dir=pipelines_dir)
    info = pipeline.run(orders())
    print("loaded", len(info.loads_ids) if info else 0)
    """
)


@pytest.mark.slow
def test_four_processes_attached_to_one_pipeline(any_lake: Lake, tmp_path: Path) -> None:
    """Four processes attach to one pipeline and run at once: every package is loaded once,
    none is deleted by another process's recovery, and no state update is lost."""
    pipelines_dir = str(tmp_path / "pipelines")
    _created(any_lake, pipelines_dir, "shared")
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), "shared", pipelines_dir, str(k)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for k in range(1, 5)
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0], [err for _, err in outputs]

    pipeline = quiver.attach("shared", pipelines_dir=pipelines_dir)
    assert not pipeline.has_pending_data
    assert list((Path(pipelines_dir) / "shared" / "tmp").iterdir()) == []
    for k in range(1, 5):
        rows = any_lake.rows("ds", f"orders_{k}", "id")
        assert [r["id"] for r in rows] == [k * 1000 + i for i in range(50)]
        cursor = pipeline.state["sources"]["shared"]["resources"][f"orders_{k}"]["incremental"]
        assert cursor["id"]["last_value"] == k * 1000 + 49  # no process lost another's state
    loads = any_lake.read("ds", "_dlt_loads")["load_id"].to_list()
    assert len(loads) == len(set(loads)) == 5  # the first run + one per process


def test_recover_removes_only_temp_packages_of_dead_processes(tmp_path: Path) -> None:
    pipeline = quiver.pipeline("tmp_owners", pipelines_dir=str(tmp_path))
    alive = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    tmp = pipeline.working_dir / "tmp"
    live_package = tmp / f"{alive.pid}-aaaaaaaa" / "1.0"
    dead_package = tmp / f"{dead.pid}-bbbbbbbb" / "2.0"
    legacy_package = tmp / "cccccccc" / "3.0"
    for package in (live_package, dead_package, legacy_package):
        package.mkdir(parents=True)
    try:
        pipeline.normalize()  # every step recovers first
        assert live_package.exists()
        assert not dead_package.parent.exists() and not legacy_package.parent.exists()
    finally:
        assert alive.stdin is not None
        alive.stdin.close()
        alive.wait()
