"""Benchmark quiver against dlt and the physical floor: ``python benches/run.py --quick|--full``.

Every (scenario, size, repetition, tool) runs in a fresh subprocess (``benches/launch.py``, which
imports the tool first as a script does, then ``benches/child.py``) with its own temporary
working folder; quiver and dlt alternate which goes first. Results are written to
``benches/results/<date>[-quick].json|.md|.png`` and the results block of ``benches/README.md``.
Run ``python benches/run.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import datetime
import fnmatch
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script (``python benches/run.py``), so make the repository root importable.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benches.report import TOOLS, summary_table, write_results  # noqa: E402
from benches.scenarios import SCENARIOS, Mode, Scenario  # noqa: E402

BENCH_DIR = ROOT / "benches"
_VERSIONED = ("quiver", "dlt", "pyarrow", "polars", "deltalake", "pyiceberg")
_DEFAULT_REPETITIONS = {"quick": 1, "full": 3}
_DEFAULT_TIMEOUT_S = {"quick": 300, "full": 3_600}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, ~1-2 minutes (default)")
    mode.add_argument("--full", action="store_true", help="the sizes of the issue (long: hours)")
    parser.add_argument("--reps", type=int, help="repetitions per case (quick 1, full 3)")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated subset of quiver,dlt,floor"
    )
    parser.add_argument(
        "--scenarios",
        default="*",
        help="comma-separated names or globs, e.g. 'dicts-*,tiny-*' (see --list)",
    )
    parser.add_argument("--rows", type=int, help="run every scenario (but tiny) at this size")
    parser.add_argument("--timeout", type=float, help="seconds per child (quick 300, full 3600)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="results folder")
    parser.add_argument("--tag", help="file stem of the results (default <date>[-quick])")
    parser.add_argument("--tmp", type=Path, help="where the per-run temporary folders go")
    parser.add_argument("--no-readme", action="store_true", help="leave benches/README.md alone")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart")
    parser.add_argument("--keep", action="store_true", help="keep the per-run folders (debug)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args(argv)


def select_scenarios(patterns: str) -> list[Scenario]:
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [s for s in SCENARIOS if any(fnmatch.fnmatchcase(s.name, p) for p in wanted)]
    if not chosen:
        raise SystemExit(f"no scenario matches {patterns!r}; see --list")
    return chosen


def select_tools(names: str) -> list[str]:
    tools = [t.strip() for t in names.split(",") if t.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        raise SystemExit(f"unknown tools {sorted(unknown)}; choose from {TOOLS}")
    return tools


def tool_order(tools: list[str], repetition: int) -> list[str]:
    """quiver and dlt swap places every repetition, so neither always runs on a cold machine."""
    if repetition % 2 == 0 or not {"quiver", "dlt"} <= set(tools):
        return tools
    i, j = tools.index("quiver"), tools.index("dlt")
    swapped = list(tools)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    return swapped


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_description() -> str:
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f", {kib / 2**20:.0f} GiB"
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}"


def child_env(workdir: Path) -> dict[str, str]:
    """The child's environment: the repository importable, both tools' homes inside the run folder.

    dlt's telemetry is off (no network here, and no beacon in the timings) and its log level is
    ERROR so that warnings do not cost time on stderr.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["DLT_DATA_DIR"] = str(workdir / "dlt_home")
    env["QUIVER_DATA_DIR"] = str(workdir / "quiver_home")
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    env["RUNTIME__LOG_LEVEL"] = "ERROR"
    return env


def run_child(
    tool: str,
    scenario: Scenario,
    rows: int,
    repetition: int,
    *,
    timeout_s: float,
    tmp_root: Path | None,
    keep: bool,
) -> dict[str, Any]:
    """Run one measurement in a fresh process and folder; return its result record."""
    tool_rows = scenario.rows_for(tool, rows)
    record: dict[str, Any] = {
        "scenario": scenario.name,
        "rows": rows,
        "tool": tool,
        "tool_rows": tool_rows,
        "repetition": repetition,
    }
    workdir = Path(tempfile.mkdtemp(prefix=f"quiver-bench-{tool}-{scenario.name}-", dir=tmp_root))
    spec = {
        "tool": tool,
        "scenario": scenario.name,
        "rows": tool_rows,
        "workdir": str(workdir),
        "pipeline_name": f"bench_{scenario.name.replace('-', '_')}_{tool}_{repetition}",
        "result_path": str(workdir / "result.json"),
    }
    (workdir / "spec.json").write_text(json.dumps(spec))
    log_path = workdir / "child.log"
    started = time.perf_counter()
    with log_path.open("wb") as log:
        # A new session, so a timeout can end the child and anything it started, and only those.
        child = subprocess.Popen(
            [sys.executable, "-m", "benches.launch", str(workdir / "spec.json")],
            cwd=ROOT,
            env=child_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    record["wall_s"] = time.perf_counter() - started
    record["load_average"] = round(os.getloadavg()[0], 2)
    result_path = workdir / "result.json"
    if result_path.exists():
        record.update(json.loads(result_path.read_text()))
    elif child.returncode == -signal.SIGKILL:
        record.update(status="timeout", error=f"no result after {timeout_s:.0f} s")
    else:
        tail = log_path.read_text(errors="replace")[-1_500:]
        record.update(status="error", error=f"child exited {child.returncode}: {tail}")
    if record.get("status") != "ok":
        record["log_tail"] = log_path.read_text(errors="replace")[-3_000:]
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        record["workdir"] = str(workdir)
    return record


def _progress_line(index: int, total: int, record: dict[str, Any]) -> str:
    head = (
        f"[{index:>3}/{total}] {record['scenario']:<24} {record['tool_rows']:>10,} "
        f"rep {record['repetition']} {record['tool']:<7}"
    )
    if record.get("status") != "ok":
        return f"{head} {record.get('status')}: {str(record.get('error', ''))[:100]}"
    rate = record["rows_per_s"]
    # A streamed run shorter than its generator alone (tiny sizes, noise) has no rate.
    rate_text = f"{rate:>12,.0f}" if rate is not None else f"{'n/a':>12}"
    return f"{head} {record['total_s']:8.3f} s {rate_text} rows/s Δ{record['rss_delta_mb']:6.0f} MB"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:<24} {s.kind:<12} quick {s.quick_sizes}  full {s.full_sizes}")
        return 0
    mode: Mode = "full" if args.full else "quick"
    repetitions = args.reps or _DEFAULT_REPETITIONS[mode]
    timeout_s = args.timeout or _DEFAULT_TIMEOUT_S[mode]
    tools = select_tools(args.tools)
    if "dlt" in tools and importlib.util.find_spec("dlt") is None:
        print("dlt is not installed (pip install -e '.[bench]'): running without it")
        tools.remove("dlt")
    cases = [
        (scenario, rows)
        for scenario in select_scenarios(args.scenarios)
        for rows in (
            (args.rows,) if args.rows and scenario.kind != "tiny" else scenario.sizes(mode)
        )
    ]
    date = datetime.date.today().isoformat()
    stem = args.tag or (date if mode == "full" else f"{date}-quick")
    meta = {
        "date": date,
        "mode": mode,
        "repetitions": repetitions,
        "tools": tools,
        "machine": machine_description(),
        "versions": {p: v for p in _VERSIONED if (v := _version(p))},
        "command": " ".join(["benches/run.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    readme = None if args.no_readme else BENCH_DIR / "README.md"
    total = len(cases) * repetitions * len(tools)
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    for scenario, rows in cases:
        for repetition in range(repetitions):
            for tool in tool_order(tools, repetition):
                record = run_child(
                    tool,
                    scenario,
                    rows,
                    repetition,
                    timeout_s=timeout_s,
                    tmp_root=args.tmp,
                    keep=args.keep,
                )
                runs.append(record)
                print(_progress_line(len(runs), total, record), flush=True)
                # Partial results survive an interrupted (hours-long) full run.
                write_results(meta, runs, args.out, stem, chart=False, readme=None)
    meta["elapsed_s"] = round(time.perf_counter() - started, 1)
    meta["max_load_average"] = max((r["load_average"] for r in runs), default=None)
    if (meta["max_load_average"] or 0) > (os.cpu_count() or 1):
        print(
            f"warning: the 1-minute load average reached {meta['max_load_average']} on "
            f"{os.cpu_count()} cores: other processes competed for the CPU, timings are noisy"
        )
    cases_summary = write_results(
        meta, runs, args.out, stem, chart=not args.no_chart, readme=readme
    )
    print()
    print(summary_table(cases_summary))
    print(
        f"\nwrote {args.out / stem}.json/.md{'' if args.no_chart else '/.png'} "
        f"in {meta['elapsed_s']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
