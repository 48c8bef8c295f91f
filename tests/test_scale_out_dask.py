"""Scale out on Dask: a LocalCluster of two worker processes on 127.0.0.1, started once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest

from tests.readers import Lake
from tests.scale_out_support import assert_loaded_once, commits_per_table, partitioned_events


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_loads_a_partitioned_source_once(
    dask_client: Any, any_lake: Lake, pipelines_dir: str
) -> None:
    pipeline = any_lake.pipeline(pipelines_dir, "scale_dask")
    info = pipeline.run(partitioned_events(), executor=dask_client)
    assert info is not None and len(info.loads_ids) == 1
    assert_loaded_once(any_lake)
    assert commits_per_table(any_lake, "events") == 1
    ran_on = dask_client.run(lambda: 1)
    assert len(ran_on) == 2  # both workers were there to take partitions


@pytest.mark.slow
def test_dask_retries_a_partition_whose_worker_died(
    dask_client: Any, bucket: Path, pipelines_dir: str, tmp_path: Path
) -> None:
    marker = tmp_path / "partition-1-died"
    lake = Lake("delta", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, "scale_dask_kill")
    pipeline.run(partitioned_events(die_once_in=marker), executor=dask_client)
    assert marker.read_text() == "died"  # the first attempt did die after writing a page
    assert_loaded_once(lake)  # the dead attempt's page is not in the table
    assert not any((Path(pipelines_dir) / "scale_dask_kill").rglob("parts"))
