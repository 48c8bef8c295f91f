"""The code that loads the data: one runner for dlt-shaped libraries, one for the physical floor.

:class:`PipelineRunner` drives quiver and dlt with the SAME code: it is handed the module
(``import quiver as dlt`` or ``import dlt``) and only calls dlt's public API. That is the claim
being measured: a dlt script runs unchanged on quiver.

:class:`FloorRunner` does the least work that produces the same table: dicts → Arrow with
``pa.Table.from_pylist(page, schema=...)`` (the schema given: no inference), then one
``deltalake.write_deltalake`` / ``merge`` or one pyiceberg ``append`` / ``upsert`` of the
already-built Arrow table. It writes nested columns as they are (no child table, no lineage
columns), so it is a lower bound, not a like-for-like competitor. It also times
``pyarrow.parquet.write_table`` of the same table: the floor of quiver's own path (rows → Arrow →
parquet, then a metadata-only commit).

:class:`StreamFeed` is the input of ``stream-*`` scenarios: pages generated while the load runs,
the generator's time, measured alone before the run, subtracted from the step that consumed the
pages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benches.measure import PeakRssMeter
from benches.scenarios import TABLE_NAME, LoadPlan, Scenario
from benches.workload import (
    EVENT_SCHEMA,
    FLAT_SCHEMA,
    RowRange,
    iter_event_pages,
    iter_flat_batches,
    iter_flat_dict_pages,
)

DATASET_NAME = "bench"
#: Steps of the floor that are not part of its total (reported for reference only).
FLOOR_REFERENCE_STEPS = ("parquet",)
_UPSERT = {"disposition": "merge", "strategy": "upsert"}


@dataclass
class StepClock:
    """Wall-clock seconds of named steps, in the order they ran, and each step's peak memory.

    With a meter, each step also records its peak RSS above the meter's baseline (MiB), which
    tells which step holds the memory. Time reported to :meth:`exclude` while a step runs (the
    input generator's) is not counted in the step.
    """

    meter: PeakRssMeter | None = None
    steps: dict[str, float] = field(default_factory=dict)
    step_rss_delta_mb: dict[str, float] = field(default_factory=dict)
    excluded_s: float = 0.0

    def exclude(self, seconds: float) -> None:
        """Take ``seconds`` out of the step running now (time the tool did not spend)."""
        self.excluded_s += seconds

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.meter is not None:
            self.meter.checkpoint()
        excluded_before = self.excluded_s
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started - (self.excluded_s - excluded_before)
            self.steps[name] = self.steps.get(name, 0.0) + elapsed
            if self.meter is not None:
                delta = max(self.meter.checkpoint() - self.meter.baseline_mb, 0.0)
                self.step_rss_delta_mb[name] = max(self.step_rss_delta_mb.get(name, 0.0), delta)


@dataclass
class StreamFeed:
    """Pages generated one by one while they are consumed.

    The generator's cost is taken out of the step that pulled the pages: the CPU time of the
    thread that runs it, measured around each ``next()`` during the run itself. Thread CPU time
    leaves out the tool's work on other threads meanwhile (quiver normalizes and encodes while
    the generator runs) and the time the generator waits for the GIL. It still counts the
    generator's own slowdown when the tool loads the other core and the memory bus (10M Arrow
    rows: 17.2 s of generator CPU in the run, 12.9 s alone), so for a tool that works beside
    the generator the net figure flatters: read it with the run's whole wall (net plus this).
    Measured in the run, it follows the host's speed of that moment; a figure measured alone
    before the run (still reported, :meth:`measure_alone`) was seen 40% off on a shared VM.
    """

    make: Callable[[], Iterator[Any]]
    clock: StepClock | None = None
    #: Wall and CPU seconds of the generator alone (:meth:`measure_alone`), for the report.
    generated_s: float = 0.0
    generated_cpu_s: float = 0.0
    #: CPU seconds the generator's thread spent making the pages during the run.
    generated_in_run_cpu_s: float = 0.0

    def measure_alone(self) -> None:
        """Make every page once and drop it, timing wall and CPU (call before the timed run).

        The first page is made once untimed: one-time costs (imports, caches) are not the
        generator's per-run cost.
        """
        next(iter(self.make()), None)
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in self.make():
            pass
        self.generated_s = time.perf_counter() - started
        self.generated_cpu_s = time.process_time() - cpu_started

    def __iter__(self) -> Iterator[Any]:
        pages = self.make()
        spent = 0.0
        while True:
            started = time.thread_time()
            try:
                page = next(pages)
            except StopIteration:
                break
            finally:
                spent += time.thread_time() - started
            yield page
        self.generated_in_run_cpu_s = spent
        if self.clock is not None:
            self.clock.exclude(spent)


@dataclass
class Inputs:
    """The data of one run: generated in memory before anything is timed, or a stream."""

    setup: list[Any] | None
    timed: Iterable[Any]

    @property
    def feed(self) -> StreamFeed | None:
        return self.timed if isinstance(self.timed, StreamFeed) else None


def _pages(scenario: Scenario, rows: RowRange) -> Iterator[Any]:
    if scenario.data == "dicts":
        return iter_event_pages(rows)
    if scenario.data == "flat_dicts":
        return iter_flat_dict_pages(rows)
    return iter_flat_batches(rows)


def _generate(scenario: Scenario, rows: RowRange) -> list[Any]:
    return list(_pages(scenario, rows))


def make_inputs(scenario: Scenario, plan: LoadPlan) -> Inputs:
    """Generate the setup and timed data of ``plan``; the incremental overlap comes first.

    For ``stream`` scenarios the timed data is a :class:`StreamFeed`, generated while it loads.
    """
    setup = _generate(scenario, plan.setup) if plan.setup is not None else None
    if scenario.feed == "stream":
        return Inputs(setup, StreamFeed(lambda: _pages(scenario, plan.timed)))
    timed = _generate(scenario, plan.timed)
    if plan.overlap is not None:
        timed = _generate(scenario, plan.overlap) + timed
    return Inputs(setup, timed)


def table_path(workdir: Path) -> Path:
    """Where every runner's root table lands: ``<bucket>/<dataset>/<table>``."""
    return workdir / "lake" / DATASET_NAME / TABLE_NAME


class PipelineRunner:
    """Runs a scenario through a dlt-shaped library (``quiver`` or ``dlt``), step by step.

    Args:
        dlt: the library module, used exactly as a dlt user would.
        scenario: what to load and how.
        inputs: the pre-generated data.
        workdir: a fresh folder for this run (pipelines dir and bucket live inside).
        pipeline_name: a fresh name, so no state leaks between runs.
    """

    def __init__(
        self, dlt: ModuleType, scenario: Scenario, inputs: Inputs, workdir: Path, pipeline_name: str
    ) -> None:
        self.dlt = dlt
        self.scenario = scenario
        self.inputs = inputs
        self.workdir = workdir
        self.pipeline_name = pipeline_name

    def _pipeline(self) -> Any:
        dlt = self.dlt
        return dlt.pipeline(
            pipeline_name=self.pipeline_name,
            pipelines_dir=str(self.workdir / "pipelines"),
            destination=dlt.destinations.filesystem(bucket_url=str(self.workdir / "lake")),
            dataset_name=DATASET_NAME,
        )

    def _data(self, items: Iterable[Any]) -> Any:
        if self.scenario.kind != "incremental":
            # A generator over pre-built pages/batches: what a paginated API client hands over.
            return (item for item in items)
        dlt = self.dlt
        cursor = dlt.sources.incremental("created_at")

        @dlt.resource(name=TABLE_NAME, primary_key="id")
        def events(created_at: Any = cursor) -> Iterator[Any]:
            # The source re-sends already-loaded rows (an overlap window); the cursor drops them.
            yield from items

        return events()

    def _hints(self) -> dict[str, Any]:
        hints: dict[str, Any] = {
            "table_name": TABLE_NAME,
            "table_format": self.scenario.table_format,
        }
        if self.scenario.kind in ("merge", "incremental"):
            hints["primary_key"] = "id"
        return hints

    def _disposition(self) -> Any:
        return _UPSERT if self.scenario.kind == "merge" else "append"

    def setup(self) -> None:
        """Load the existing table (merge, incremental) in the same pipeline; not timed.

        The setup load uses the same write disposition as the timed one, as a job run twice
        would (dlt cannot switch a nested table from append to merge: the child table lacks
        ``_dlt_root_id``).
        """
        if self.inputs.setup is None:
            return
        self._pipeline().run(
            self._data(self.inputs.setup), write_disposition=self._disposition(), **self._hints()
        )

    def run_timed(self, clock: StepClock) -> None:
        """The measured load: a new pipeline object (as a new job would create), then the steps.

        quiver's ``run()`` normalizes while it extracts (``normalize.overlap_extract``): it is
        timed as one ``run`` step, as a user calls it. ``BENCH_QUIVER_STEPS=separate`` (and
        dlt always) times extract, normalize and load one after the other instead.
        """
        with clock.step("init"):
            pipeline = self._pipeline()
        if self.dlt.__name__ == "quiver" and os.environ.get("BENCH_QUIVER_STEPS") != "separate":
            with clock.step("run"):
                pipeline.run(
                    self._data(self.inputs.timed),
                    write_disposition=self._disposition(),
                    **self._hints(),
                )
            return
        with clock.step("extract"):
            pipeline.extract(
                self._data(self.inputs.timed),
                write_disposition=self._disposition(),
                **self._hints(),
            )
        with clock.step("normalize"):
            pipeline.normalize()
        with clock.step("load"):
            pipeline.load()


class FloorRunner:
    """The physical floor: the same data through pyarrow + deltalake / pyiceberg directly."""

    def __init__(self, scenario: Scenario, inputs: Inputs, workdir: Path) -> None:
        self.scenario = scenario
        self.inputs = inputs
        self.workdir = workdir
        self.table_path = table_path(workdir)
        self._schema: pa.Schema | None = None
        self._cursor: Any = None
        self._iceberg_catalog: Any = None

    def _to_arrow(self, items: Iterable[Any]) -> pa.Table:
        if self.scenario.data == "arrow":
            table = pa.Table.from_batches(list(items))
        else:
            # One conversion per page with the schema given: no type inference, which a loader
            # of unknown dicts must do (``pa.array(page)`` struct inference is ~2.5x slower).
            schema = EVENT_SCHEMA if self.scenario.data == "dicts" else FLAT_SCHEMA
            table = pa.concat_tables([pa.Table.from_pylist(page, schema=schema) for page in items])
        if self._cursor is not None:
            # Incremental: drop what the source re-sent (a vectorized cursor filter).
            table = table.filter(pc.greater(table.column("created_at"), self._cursor))
        if self._schema is not None and table.schema != self._schema:
            table = table.cast(self._schema)
        return table

    def _catalog(self) -> Any:
        if self._iceberg_catalog is None:
            from pyiceberg.catalog.sql import SqlCatalog

            self._iceberg_catalog = SqlCatalog(
                "bench",
                uri=f"sqlite:///{self.workdir / 'catalog.db'}",
                warehouse=(self.workdir / "lake").as_uri(),
            )
            self._iceberg_catalog.create_namespace(DATASET_NAME)
        return self._iceberg_catalog

    def _append(self, table: pa.Table) -> None:
        if self.scenario.table_format == "delta":
            from deltalake import write_deltalake

            write_deltalake(str(self.table_path), table, mode="append")
            return
        identifier = f"{DATASET_NAME}.{TABLE_NAME}"
        catalog = self._catalog()
        if catalog.table_exists(identifier):
            iceberg_table = catalog.load_table(identifier)
        else:
            iceberg_table = catalog.create_table(
                identifier, schema=table.schema, location=self.table_path.as_uri()
            )
        iceberg_table.append(table)

    def _upsert(self, table: pa.Table) -> None:
        if self.scenario.table_format == "delta":
            from deltalake import DeltaTable

            (
                DeltaTable(str(self.table_path))
                .merge(table, predicate="t.id = s.id", source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
            return
        self._catalog().load_table(f"{DATASET_NAME}.{TABLE_NAME}").upsert(table, join_cols=["id"])

    def setup(self) -> None:
        """Write the existing table (merge, incremental) and open the catalog; not timed."""
        if self.scenario.table_format == "iceberg":
            self._catalog()
        if self.inputs.setup is None:
            return
        table = self._to_arrow(self.inputs.setup)
        self._append(table)
        self._schema = table.schema
        if self.scenario.kind == "incremental":
            self._cursor = pc.max(table.column("created_at"))

    def run_timed(self, clock: StepClock) -> None:
        """To Arrow, then one table write; then, for reference, the same table to parquet."""
        with clock.step("to_arrow"):
            table = self._to_arrow(self.inputs.timed)
        with clock.step("write"):
            if self.scenario.kind == "merge":
                self._upsert(table)
            else:
                self._append(table)
        with clock.step("parquet"):
            pq.write_table(table, self.workdir / "floor.parquet")
