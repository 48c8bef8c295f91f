"""Scale out on Ray: a local Ray instance with two CPUs on 127.0.0.1, started once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from tests.readers import Lake
from tests.scale_out_support import assert_loaded_once, commits_per_table, partitioned_events


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.mark.slow
def test_ray_loads_a_partitioned_source_once(
    ray_instance: None, any_lake: Lake, pipelines_dir: str
) -> None:
    pipeline = any_lake.pipeline(pipelines_dir, "scale_ray")
    info = pipeline.run(partitioned_events(), executor="ray")
    assert info is not None and len(info.loads_ids) == 1
    assert_loaded_once(any_lake)
    assert commits_per_table(any_lake, "events") == 1


@pytest.mark.slow
def test_ray_retries_a_partition_whose_worker_died(
    ray_instance: None, bucket: Path, pipelines_dir: str, tmp_path: Path
) -> None:
    marker = tmp_path / "partition-1-died"
    lake = Lake("iceberg", "local", f"file://{bucket}")
    pipeline = lake.pipeline(pipelines_dir, "scale_ray_kill")
    pipeline.run(partitioned_events(die_once_in=marker), executor="ray")
    assert marker.read_text() == "died"  # the first attempt did die after writing a page
    assert_loaded_once(lake)  # the dead attempt's page is not in the table
    assert not any((Path(pipelines_dir) / "scale_ray_kill").rglob("parts"))
