"""The benchmark harness (``benches/``) keeps working: a tiny end-to-end run and its pure parts.

No timing is asserted anywhere: this only proves that the harness generates, loads, verifies and
reports. dlt is a bench-only dependency, so its part is skipped where it is not installed (CI).
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from benches import run as bench_run
from benches.child import classify_error
from benches.report import summarize, update_readme
from benches.runners import StepClock, StreamFeed
from benches.scenarios import SCENARIOS_BY_NAME, load_plan
from benches.workload import (
    EVENT_SCHEMA,
    FLAT_COLUMNS,
    FLAT_SCHEMA,
    PAGE_SIZE,
    RowRange,
    event_pages,
    flat_batches,
    iter_event_batches,
)

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _run_bench(tmp_path: Path, *options: str) -> dict:
    argv = ["--quick", "--out", str(tmp_path), "--tag", "smoke", "--no-readme", *options]
    if not HAS_MATPLOTLIB:
        argv.append("--no-chart")
    assert bench_run.main(argv) == 0
    return json.loads((tmp_path / "smoke.json").read_text())


def test_harness_runs_quiver_and_floor_end_to_end(tmp_path: Path) -> None:
    results = _run_bench(
        tmp_path,
        "--rows",
        "10000",
        "--scenarios",
        "dicts-delta,tiny-flat-dicts-delta",
        "--tools",
        "quiver,floor",
    )
    runs = {(r["scenario"], r["tool"]): r for r in results["runs"]}
    assert set(runs) == {
        (s, t) for s in ("dicts-delta", "tiny-flat-dicts-delta") for t in ("quiver", "floor")
    }
    for run in runs.values():
        assert run["status"] == "ok", run.get("error")
        assert run["verified_rows"] == run["expected_rows"]
        assert run["rss_delta_mb"] >= 0
        assert run["rows_per_s"] > 0
    # quiver's run() overlaps extract and normalize: one step (benches/runners.py).
    assert set(runs["dicts-delta", "quiver"]["steps"]) == {"init", "run"}
    assert set(runs["dicts-delta", "floor"]["steps"]) == {"to_arrow", "write", "parquet"}
    assert runs["tiny-flat-dicts-delta", "quiver"]["expected_rows"] == 1_000
    markdown = (tmp_path / "smoke.md").read_text()
    assert "| dicts-delta | 10k |" in markdown
    assert (tmp_path / "smoke.png").exists() == HAS_MATPLOTLIB


def test_streamed_input_is_generated_during_the_run_and_not_charged(tmp_path: Path) -> None:
    results = _run_bench(
        tmp_path, "--rows", "10000", "--scenarios", "stream-dicts-delta", "--tools", "quiver,floor"
    )
    for run in results["runs"]:
        assert run["status"] == "ok", run.get("error")
        assert run["verified_rows"] == 10_000
        assert run["gc"] == "on"
        assert run["generate_s"] > 0  # the generator timed alone, for the report
        assert run["generate_in_run_cpu_s"] > 0  # its CPU in the run, subtracted


def test_the_clock_leaves_out_excluded_time() -> None:
    clock = StepClock()
    feed = StreamFeed(lambda: iter([[1], [2]]), clock)
    with clock.step("extract"):
        assert list(feed) == [[1], [2]]
        clock.exclude(3600.0)  # an hour of generator time cannot have been spent in this step
    assert clock.steps["extract"] < 0
    assert clock.excluded_s == pytest.approx(3600.0 + feed.generated_in_run_cpu_s)


def test_a_stream_excludes_its_generator_cpu_measured_during_the_run() -> None:
    """The generator's own work (here: CPU it measures itself inside each page) is left out;
    what the consumer does between pages is not."""
    spent_in_generator: list[float] = []

    def pages() -> Iterator[list[int]]:
        for page in range(3):
            started = time.thread_time()
            sum(range(300_000))  # making a page costs CPU
            spent_in_generator.append(time.thread_time() - started)
            yield [page]

    clock = StepClock()
    feed = StreamFeed(pages, clock)
    with clock.step("extract"):
        for _ in feed:
            sum(range(300_000))  # the consumer's work on each page
    generated = sum(spent_in_generator)
    assert generated > 0
    assert feed.generated_in_run_cpu_s >= generated
    assert feed.generated_in_run_cpu_s < generated * 1.5 + 0.005
    assert clock.excluded_s == pytest.approx(feed.generated_in_run_cpu_s)


def test_the_floor_is_given_the_workload_schema() -> None:
    import pyarrow as pa

    pages = event_pages(RowRange(0, 50))
    assert pa.Table.from_pylist(pages[0], schema=EVENT_SCHEMA).to_pylist() == pages[0]
    flat = flat_batches(RowRange(0, 50))[0]
    assert flat.schema == FLAT_SCHEMA


@pytest.mark.skipif(importlib.util.find_spec("dlt") is None, reason="dlt is in the bench extra")
def test_harness_drives_dlt_with_the_same_runner(tmp_path: Path) -> None:
    results = _run_bench(
        tmp_path, "--rows", "2000", "--scenarios", "dicts-delta", "--tools", "quiver,dlt"
    )
    statuses = {r["tool"]: r["status"] for r in results["runs"]}
    assert statuses == {"quiver": "ok", "dlt": "ok"}
    assert results["summary"][0]["speedup_vs_dlt"] is not None


def test_workload_is_deterministic_and_independent_of_page_size() -> None:
    rows = RowRange(PAGE_SIZE - 5, 10)  # straddles two generator blocks
    pages = event_pages(rows)
    assert [len(p) for p in pages] == [10]
    assert [r["id"] for r in pages[0]] == list(range(PAGE_SIZE - 5, PAGE_SIZE + 5))
    assert event_pages(rows) == pages
    big = next(iter_event_batches(RowRange(0, 2 * PAGE_SIZE), 2 * PAGE_SIZE)).to_pylist()
    assert big[PAGE_SIZE - 5 : PAGE_SIZE + 5] == pages[0]
    record = pages[0][0]
    assert len(record) == 12
    assert set(record["geo"]) == {"country", "lat", "lon"}
    assert record["created_at"].tzinfo is not None
    assert record["price"].as_tuple().exponent == -2


def test_flat_projection_holds_the_same_records() -> None:
    rows = RowRange(0, 3_000)
    (batch,) = flat_batches(rows)
    assert tuple(batch.schema.names) == FLAT_COLUMNS
    dicts = event_pages(rows)[0]
    flat = batch.to_pylist()
    assert [d["geo"]["country"] for d in dicts] == [f["country"] for f in flat]
    assert [d["price"] for d in dicts] == [f["price"] for f in flat]
    nulls = sum(d["note"] is None for d in dicts) / len(dicts)
    assert 0.25 < nulls < 0.35


def test_merge_plan_has_ten_percent_updates_and_ten_percent_new_rows() -> None:
    rows = 9_000
    plan = load_plan(SCENARIOS_BY_NAME["merge-dicts-delta"], rows)
    assert plan.setup == RowRange(0, rows)
    assert plan.timed.count == rows
    assert plan.expected_rows == rows + rows // 10
    base = {r["id"]: r for page in event_pages(plan.setup) for r in page}
    second = [r for page in event_pages(plan.timed) for r in page]
    kinds = Counter(
        "new" if r["id"] not in base else "same" if r == base[r["id"]] else "updated"
        for r in second
    )
    assert kinds == {"new": rows // 10, "updated": rows // 10, "same": rows - 2 * (rows // 10)}


def test_incremental_plan_resends_an_overlap_the_cursor_must_drop() -> None:
    plan = load_plan(SCENARIOS_BY_NAME["incremental-arrow-delta"], 1_000)
    assert plan.setup == RowRange(0, 100_000)
    assert plan.overlap is not None and plan.overlap.stop == plan.timed.start
    assert plan.expected_rows == 101_000


def test_only_quivers_missing_features_count_as_unsupported() -> None:
    missing = AttributeError("module 'quiver' has no attribute 'sources'")
    assert classify_error(missing, "quiver") == "unsupported"
    assert classify_error(NotImplementedError("merge"), "quiver") == "unsupported"
    assert classify_error(ValueError("bad data"), "quiver") == "error"
    assert classify_error(NotImplementedError("merge"), "dlt") == "error"


def test_summary_takes_medians_and_ratios() -> None:
    def run(tool: str, rate: float, status: str = "ok") -> dict:
        return {
            "scenario": "s",
            "rows": 100,
            "tool": tool,
            "tool_rows": 100,
            "status": status,
            "rows_per_s": rate,
            "total_s": 100 / rate,
            "steps": {"load": 100 / rate},
        }

    runs = [
        run("quiver", 10),
        run("quiver", 30),
        run("quiver", 20),
        run("dlt", 2),
        run("floor", 25),
    ]
    (case,) = summarize(runs)
    assert case.tools["quiver"].rows_per_s == 20
    assert case.speedup_vs_dlt == pytest.approx(10)
    assert case.time_vs_floor == pytest.approx(1.25)
    (failed,) = summarize([run("quiver", 1, status="unsupported"), run("dlt", 2)])
    assert failed.tools["quiver"].status == "unsupported"
    assert failed.speedup_vs_dlt is None


def test_readme_block_is_replaced_between_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nold\n<!-- results:end -->\noutro\n")
    update_readme(readme, "new table")
    assert readme.read_text() == (
        "intro\n<!-- results:start -->\nnew table\n<!-- results:end -->\noutro\n"
    )
