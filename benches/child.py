"""One benchmark run in its own process: ``python -m benches.launch <spec.json>``.

A process per (tool, scenario, size, repetition) so that peak memory belongs to one tool and no
cache, import or leaked state carries over from another run. The spec names the tool, scenario,
rows, a fresh working folder and where to write the result; the result is a JSON object (see
:func:`run_case`). The child never raises: a failure is a result with a status and the error.
"""

from __future__ import annotations

import gc
import importlib
import json
import resource
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from benches import launch
from benches.measure import PeakRssMeter
from benches.runners import (
    FLOOR_REFERENCE_STEPS,
    FloorRunner,
    Inputs,
    PipelineRunner,
    StepClock,
    make_inputs,
    table_path,
)
from benches.scenarios import SCENARIOS_BY_NAME, Scenario, load_plan
from benches.verify import count_rows

#: Substrings of quiver's error messages that mean "this feature is not there yet".
_UNSUPPORTED_MARKERS = ("not supported", "not implemented", "not yet", "cannot load yet")


def _cpu_seconds() -> float:
    """CPU of this process and of the child processes it waited for (a tool's worker
    processes): both are the load's."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def _error_chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify_error(error: BaseException, tool: str) -> str:
    """``unsupported`` when quiver says it lacks the feature, else ``error``.

    For quiver, a missing public name (``quiver.sources``), a ``NotImplementedError`` or a
    capabilities error anywhere in the cause chain, or a message saying so, counts as
    unsupported, so that a scenario lights up as soon as quiver gains the feature. dlt and the
    floor are the reference: any failure of theirs is an error.
    """
    if tool != "quiver":
        return "error"
    for link in _error_chain(error):
        if isinstance(link, NotImplementedError) or "Capabilit" in type(link).__name__:
            return "unsupported"
        if isinstance(link, AttributeError) and "module 'quiver" in str(link):
            return "unsupported"
        if any(marker in str(link).lower() for marker in _UNSUPPORTED_MARKERS):
            return "unsupported"
    return "error"


def _import_tool(tool: str) -> tuple[ModuleType | None, str | None]:
    if tool == "floor":
        return None, None
    module = importlib.import_module(tool)
    return module, str(getattr(module, "__version__", "?"))


def _preimport(scenario: Scenario) -> None:
    """Import the shared engines before the memory baseline, so peaks compare work, not code."""
    engines = ["pyarrow.parquet", "deltalake"]
    if scenario.table_format == "iceberg":
        engines += ["pyiceberg.catalog.sql", "pyiceberg.table"]
    for name in engines:
        importlib.import_module(name)
    # pyarrow imports pandas (0.3-0.5 s) on its first conversion of Python objects: an import,
    # not work. The old to_pylist generator paid it before timing; the numpy one does not.
    importlib.import_module("pyarrow").array([0])


def run_case(spec: dict[str, Any], result: dict[str, Any]) -> None:
    """Generate, set up, time and verify one run, filling ``result`` as it goes.

    ``result["phase"]`` names the phase in progress (``import``, ``generate``, ``setup``,
    ``timed``, ``verify``), so a failure tells where it happened. Also filled in: ``status``
    (``ok`` or ``wrong_result``), ``steps`` (seconds per step), ``total_s`` (the timed seconds:
    every step but the floor's reference ones), ``rows_per_s``, ``peak_rss_mb``,
    ``rss_baseline_mb``, ``rss_delta_mb``, ``anon_delta_mb``, ``step_rss_delta_mb``,
    ``rss_method``, ``cpu_s``, ``import_s``, ``generate_s`` (for ``stream`` scenarios: the
    generator's time alone, measured before the run, for the report),
    ``generate_in_run_cpu_s`` (the generator's thread CPU during the run, subtracted from the
    step that pulled the pages), ``gc``, ``setup_s``,
    ``expected_rows``, ``verified_rows`` and ``tool_version``.
    """
    tool: str = spec["tool"]
    scenario = SCENARIOS_BY_NAME[spec["scenario"]]
    workdir = Path(spec["workdir"])
    plan = load_plan(scenario, spec["rows"])
    result["expected_rows"] = plan.expected_rows

    result["phase"] = "import"
    started = time.perf_counter()
    module, result["tool_version"] = _import_tool(tool)
    # Started by benches.launch, the tool was imported before the harness: that import counts.
    result["import_s"] = launch.tool_import_s or time.perf_counter() - started
    _preimport(scenario)

    result["phase"] = "generate"
    started = time.perf_counter()
    inputs: Inputs = make_inputs(scenario, plan)
    result["generate_s"] = time.perf_counter() - started

    runner: PipelineRunner | FloorRunner
    if module is None:
        runner = FloorRunner(scenario, inputs, workdir)
    else:
        runner = PipelineRunner(module, scenario, inputs, workdir, spec["pipeline_name"])
    result["phase"] = "setup"
    started = time.perf_counter()
    runner.setup()
    result["setup_s"] = time.perf_counter() - started

    feed = inputs.feed
    if feed is not None:
        result["phase"] = "generate"
        feed.measure_alone()
    gc.collect()
    if feed is None:
        # The input stays alive for the whole run; freezing it keeps the collector from walking
        # millions of input objects on every full collection, a cost no real (streaming) job
        # pays. A streamed input is not held, so there the collector runs as in a real job.
        gc.freeze()
    result["gc"] = "on" if feed is not None else "input frozen"
    result["phase"] = "timed"
    cpu_started = _cpu_seconds()
    with PeakRssMeter() as meter:
        clock = StepClock(meter)
        if feed is not None:
            feed.clock = clock
        runner.run_timed(clock)
    result["cpu_s"] = _cpu_seconds() - cpu_started
    if feed is not None:
        # The generator's cost in the run is already left out of the step that pulled it.
        result["generate_s"] = feed.generated_s
        result["generate_in_run_cpu_s"] = feed.generated_in_run_cpu_s
        result["cpu_s"] -= feed.generated_in_run_cpu_s

    reference = FLOOR_REFERENCE_STEPS if module is None else ()
    total = sum(s for name, s in clock.steps.items() if name not in reference)
    result.update(
        steps=clock.steps,
        step_rss_delta_mb=clock.step_rss_delta_mb,
        total_s=total,
        rows_per_s=plan.timed.count / total if total > 0 else None,
        peak_rss_mb=meter.report.peak_mb,
        rss_baseline_mb=meter.report.baseline_mb,
        rss_delta_mb=meter.report.delta_mb,
        anon_delta_mb=meter.report.anon_delta_mb,
        rss_method=meter.report.method,
    )
    result["phase"] = "verify"
    result["verified_rows"] = count_rows(table_path(workdir), scenario.table_format)
    result["status"] = "ok" if result["verified_rows"] == plan.expected_rows else "wrong_result"
    if result["status"] != "ok":
        result["error"] = (
            f"the table holds {result['verified_rows']} rows, expected {plan.expected_rows}"
        )
    result["phase"] = "done"


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    result: dict[str, Any] = {}
    try:
        run_case(spec, result)
    except BaseException as error:  # a result must be written whatever happened
        traceback.print_exc()
        result["status"] = classify_error(error, spec["tool"])
        result["error"] = f"{type(error).__name__}: {error}"[:2_000]
    Path(spec["result_path"]).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
