"""parallelized=True runs generators in a thread pool; async generators run concurrently."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import quiver
from tests.extract_support import make_pipeline, table_rows

DELAY = 0.2


def _slow(name: str, threads: set[str], parallelized: bool) -> quiver.Resource:
    @quiver.resource(name=name, parallelized=parallelized)
    def slow():
        for i in range(3):
            threads.add(threading.current_thread().name)
            time.sleep(DELAY)
            yield {"id": i, "source": name}

    return slow


def test_parallelized_resources_run_in_threads(pipelines_dir: str, bucket: Path) -> None:
    threads: set[str] = set()
    resources = [_slow(f"r{i}", threads, parallelized=True) for i in range(4)]
    started = time.perf_counter()
    make_pipeline(pipelines_dir, bucket).extract(resources)
    elapsed = time.perf_counter() - started
    # Sequentially this takes 4 * 3 * DELAY = 2.4 s; in the pool about 3 * DELAY.
    assert elapsed < 4 * 3 * DELAY * 0.6
    assert all(name.startswith("quiver-extract") for name in threads)


def test_workers_bound_the_pool(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXTRACT__WORKERS", "1")
    threads: set[str] = set()
    resources = [_slow(f"r{i}", threads, parallelized=True) for i in range(2)]
    started = time.perf_counter()
    make_pipeline(pipelines_dir, bucket).extract(resources)
    assert time.perf_counter() - started >= 2 * 3 * DELAY * 0.9
    assert len(threads) == 1


def test_parallelized_output_is_complete(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource(parallelized=True)
    def numbers():
        for page in range(50):
            yield [{"id": page * 100 + i} for i in range(100)]

    @quiver.transformer(data_from=numbers, parallelized=True)
    def doubled(page: list[dict[str, Any]]):
        time.sleep(0.001)
        return [{"id": row["id"], "double": row["id"] * 2} for row in page]

    @quiver.source(parallelized=True)
    def both():
        return numbers, doubled

    make_pipeline(pipelines_dir, bucket).run(both())
    assert [r["id"] for r in table_rows(bucket, "numbers")] == list(range(5000))
    doubled_rows = table_rows(bucket, "doubled")
    assert len(doubled_rows) == 5000 and all(r["double"] == 2 * r["id"] for r in doubled_rows)


def test_async_generators_run_concurrently(pipelines_dir: str, bucket: Path) -> None:
    def make(name: str) -> quiver.Resource:
        @quiver.resource(name=name)
        async def fetch():
            for i in range(3):
                await asyncio.sleep(DELAY)
                yield {"id": i}

        return fetch

    started = time.perf_counter()
    make_pipeline(pipelines_dir, bucket).run([make(f"a{i}") for i in range(4)])
    assert time.perf_counter() - started < 4 * 3 * DELAY * 0.6 + 2.0
    for i in range(4):
        assert [r["id"] for r in table_rows(bucket, f"a{i}")] == [0, 1, 2]


def test_async_gathers_faster_than_sequential() -> None:
    def make(name: str) -> quiver.Resource:
        @quiver.resource(name=name)
        async def fetch():
            for i in range(3):
                await asyncio.sleep(DELAY)
                yield {"id": i}

        return fetch

    @quiver.source
    def many():
        return [make(f"a{i}") for i in range(4)]

    started = time.perf_counter()
    assert len(list(many())) == 12
    assert time.perf_counter() - started < 4 * 3 * DELAY * 0.6


def test_yielded_awaitables_and_async_transformers() -> None:
    async def lookup(i: int) -> dict[str, int]:
        await asyncio.sleep(DELAY)
        return {"id": i, "looked_up": i * 10}

    @quiver.resource
    def ids():
        for i in range(5):
            yield lookup(i)

    @quiver.transformer(data_from=quiver.resource([{"id": 1}, {"id": 2}], name="base"))
    async def enriched(row):
        await asyncio.sleep(DELAY)
        return {**row, "enriched": True}

    started = time.perf_counter()
    assert sorted(r["looked_up"] for r in ids) == [0, 10, 20, 30, 40]
    assert time.perf_counter() - started < 5 * DELAY * 0.8
    assert sorted(r["id"] for r in enriched) == [1, 2]


def test_async_resource_state_and_limit(pipelines_dir: str) -> None:
    @quiver.resource
    async def counted():
        state = quiver.current.resource_state()
        n = 0
        while True:
            n += 1
            state["n"] = n
            yield {"n": n}

    pipeline = quiver.pipeline("async_state", pipelines_dir=pipelines_dir)
    pipeline.extract(counted().add_limit(4))
    resources = pipeline.state["sources"][pipeline.default_schema_name]["resources"]
    assert resources["counted"]["n"] == 4
