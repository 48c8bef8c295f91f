"""What the benchmark runs: scenarios, their sizes, and the loads each one performs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benches.workload import RowRange

Kind = Literal["load", "merge", "incremental", "tiny"]
DataKind = Literal["dicts", "arrow", "flat_dicts"]
TableFormat = Literal["delta", "iceberg"]
Mode = Literal["quick", "full"]
#: ``memory``: the input is generated before the clock starts and frozen out of the garbage
#: collector's sight; ``stream``: pages are generated while the load runs (as an API client
#: yields them), the generator's own time is measured and subtracted, the collector stays on.
Feed = Literal["memory", "stream"]

TABLE_NAME = "events"
#: The fixed-cost scenario loads this many rows, whatever the mode.
TINY_ROWS = 1_000
#: The incremental scenario appends ``rows`` onto a table of ``INCREMENTAL_BASE_FACTOR * rows``.
INCREMENTAL_BASE_FACTOR = 100
#: In a merge, every ``MERGE_UPDATE_EVERY``-th existing id of the second load is changed.
MERGE_UPDATE_EVERY = 9


@dataclass(frozen=True)
class Scenario:
    """One benchmark scenario; it runs once per size in the chosen mode.

    Args:
        name: a short id, e.g. ``"dicts-delta"``; used on the command line and in reports.
        kind: ``load`` (one append into a new table), ``merge`` (upsert a second load into an
            existing table), ``incremental`` (append new rows with a cursor onto a big table) or
            ``tiny`` (a 1,000-row load: the fixed cost).
        data: ``dicts`` (nested 12-field events in pages of 10k), ``arrow`` (the flat 10-column
            projection in batches of 100k) or ``flat_dicts`` (the flat projection as dicts).
        table_format: ``delta`` or ``iceberg``.
        quick_sizes: timed rows per run in ``--quick`` mode.
        full_sizes: timed rows per run in ``--full`` mode.
        dlt_max_rows: dlt runs at most this many rows (its rows/s is still comparable); for
            scenarios where dlt would need hours at full size.
        feed: how the timed input reaches the tool (see :data:`Feed`).
    """

    name: str
    kind: Kind
    data: DataKind
    table_format: TableFormat
    quick_sizes: tuple[int, ...]
    full_sizes: tuple[int, ...]
    dlt_max_rows: int | None = None
    feed: Feed = "memory"

    def sizes(self, mode: Mode) -> tuple[int, ...]:
        return self.quick_sizes if mode == "quick" else self.full_sizes

    def rows_for(self, tool: str, rows: int) -> int:
        """The timed rows ``tool`` runs when the case asks for ``rows``."""
        if tool == "dlt" and self.dlt_max_rows is not None:
            return min(rows, self.dlt_max_rows)
        return rows


@dataclass(frozen=True)
class LoadPlan:
    """The loads of one run: an untimed setup load (or none), then the timed load.

    ``expected_rows`` is how many rows the root table must hold afterwards; the child checks it
    so that a tool which silently loads nothing (or duplicates) cannot post a good time.
    """

    setup: RowRange | None
    timed: RowRange
    expected_rows: int
    #: For incremental loads: the already-loaded rows the source offers again (the cursor's
    #: boundary), as an API queried "since the last value" does.
    overlap: RowRange | None = None


def load_plan(scenario: Scenario, rows: int) -> LoadPlan:
    """The loads ``scenario`` performs when ``rows`` rows are timed."""
    if scenario.kind in ("load", "tiny"):
        return LoadPlan(None, RowRange(0, rows), rows)
    if scenario.kind == "merge":
        # Second load of ``rows`` ids: 90% already loaded (1 in 9 of those changed, so 10% of the
        # load are updates and 80% unchanged duplicates) and 10% new ids.
        new = rows // 10
        timed = RowRange(new, rows, updated_below=rows, update_every=MERGE_UPDATE_EVERY)
        return LoadPlan(RowRange(0, rows), timed, rows + new)
    base = INCREMENTAL_BASE_FACTOR * rows
    overlap = RowRange(max(base - 1_000, 0), min(base, 1_000))
    return LoadPlan(RowRange(0, base), RowRange(base, rows), base + rows, overlap)


def _both_formats(
    kind: Kind,
    data: DataKind,
    quick: tuple[int, ...],
    full: tuple[int, ...],
    *,
    prefix: str = "",
    dlt_iceberg_max_rows: int | None = None,
    feed: Feed = "memory",
) -> list[Scenario]:
    return [
        Scenario(
            name=f"{prefix}{data.replace('_', '-')}-{fmt}",
            kind=kind,
            data=data,
            table_format=fmt,
            quick_sizes=quick,
            full_sizes=full,
            dlt_max_rows=dlt_iceberg_max_rows if fmt == "iceberg" else None,
            feed=feed,
        )
        for fmt in ("delta", "iceberg")
    ]


#: Every scenario, in the order they run and are reported.
SCENARIOS: tuple[Scenario, ...] = (
    *_both_formats("load", "dicts", (20_000,), (1_000_000, 3_000_000)),
    *_both_formats("load", "arrow", (200_000,), (1_000_000, 10_000_000)),
    # The same loads with the pages generated during the run (generator time subtracted, the
    # garbage collector on): what a job reading a paginated API pays.
    *_both_formats(
        "load", "dicts", (20_000,), (1_000_000, 3_000_000), prefix="stream-", feed="stream"
    ),
    *_both_formats("load", "arrow", (200_000,), (10_000_000,), prefix="stream-", feed="stream"),
    # dlt upserts into Iceberg 1,000 rows per commit: ~90 s per 100k rows, hours for 1M.
    *_both_formats(
        "merge", "dicts", (5_000,), (1_000_000,), prefix="merge-", dlt_iceberg_max_rows=100_000
    ),
    *_both_formats(
        "merge", "arrow", (5_000,), (1_000_000,), prefix="merge-", dlt_iceberg_max_rows=100_000
    ),
    *_both_formats("incremental", "arrow", (2_000,), (100_000,), prefix="incremental-"),
    *_both_formats("tiny", "flat_dicts", (TINY_ROWS,), (TINY_ROWS,), prefix="tiny-"),
)
SCENARIOS_BY_NAME = {s.name: s for s in SCENARIOS}
