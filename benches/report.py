"""Turn raw runs into medians, ratios, a Markdown table, a PNG chart and the README's results block."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TOOLS = ("quiver", "dlt", "floor")
README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"
#: How a run that did not finish shows in the tables.
STATUS_LABELS = {
    "unsupported": "not supported yet",
    "error": "error",
    "timeout": "timeout",
    "wrong_result": "wrong result",
    "skipped": "skipped",
}


@dataclass
class ToolSummary:
    """The median of the successful repetitions of one tool on one case."""

    tool: str
    status: str
    runs: int
    ok_runs: int
    rows: int | None = None
    rows_per_s: float | None = None
    total_s: float | None = None
    steps: dict[str, float] = field(default_factory=dict)
    step_rss_delta_mb: dict[str, float] = field(default_factory=dict)
    cpu_s: float | None = None
    rss_delta_mb: float | None = None
    anon_delta_mb: float | None = None
    peak_rss_mb: float | None = None
    error: str | None = None


@dataclass
class CaseSummary:
    """One scenario at one size: every tool, and quiver's ratios."""

    scenario: str
    rows: int
    tools: dict[str, ToolSummary]

    def _rate(self, tool: str) -> float | None:
        summary = self.tools.get(tool)
        return summary.rows_per_s if summary is not None and summary.status == "ok" else None

    @property
    def speedup_vs_dlt(self) -> float | None:
        """quiver rows/s over dlt rows/s: above 1 means quiver is faster."""
        quiver, dlt = self._rate("quiver"), self._rate("dlt")
        return quiver / dlt if quiver and dlt else None

    @property
    def time_vs_floor(self) -> float | None:
        """quiver's time over the floor's for the same rows: 1.0 is the floor, 1.2 is 20% slower."""
        quiver, floor = self._rate("quiver"), self._rate("floor")
        return floor / quiver if quiver and floor else None


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize_tool(tool: str, runs: list[dict[str, Any]]) -> ToolSummary:
    """Medians over the ``ok`` runs; the status is ``ok`` if any run was, else the first failure's."""
    ok = [r for r in runs if r.get("status") == "ok"]
    if not ok:
        first = runs[0] if runs else {"status": "skipped"}
        return ToolSummary(
            tool, first.get("status", "error"), len(runs), 0, error=first.get("error")
        )
    step_names = list(dict.fromkeys(name for r in ok for name in r.get("steps", {})))
    return ToolSummary(
        tool=tool,
        status="ok",
        runs=len(runs),
        ok_runs=len(ok),
        rows=ok[0].get("tool_rows"),
        rows_per_s=_median(r.get("rows_per_s") for r in ok),
        total_s=_median(r.get("total_s") for r in ok),
        steps={n: _median(r["steps"].get(n) for r in ok) or 0.0 for n in step_names},
        step_rss_delta_mb={
            n: _median(r.get("step_rss_delta_mb", {}).get(n) for r in ok) or 0.0 for n in step_names
        },
        cpu_s=_median(r.get("cpu_s") for r in ok),
        rss_delta_mb=_median(r.get("rss_delta_mb") for r in ok),
        anon_delta_mb=_median(r.get("anon_delta_mb") for r in ok),
        peak_rss_mb=_median(r.get("peak_rss_mb") for r in ok),
    )


def summarize(runs: list[dict[str, Any]]) -> list[CaseSummary]:
    """Group runs by (scenario, rows) in the order they ran, and summarize each tool."""
    cases: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        per_tool = cases.setdefault((run["scenario"], run["rows"]), {})
        per_tool.setdefault(run["tool"], []).append(run)
    return [
        CaseSummary(scenario, rows, {t: summarize_tool(t, rs) for t, rs in per_tool.items()})
        for (scenario, rows), per_tool in cases.items()
    ]


# ------------------------------------------------------------------------------------ Markdown
def _count(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _rows_label(rows: int) -> str:
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows >= 1_000 and rows % 1_000 == 0:
        return f"{rows // 1_000}k"
    return f"{rows:,}"


def _rate_cell(case: CaseSummary, tool: str) -> str:
    summary = case.tools.get(tool)
    if summary is None:
        return "-"
    if summary.status != "ok":
        return STATUS_LABELS.get(summary.status, summary.status)
    cell = _count(summary.rows_per_s)
    if summary.rows is not None and summary.rows != case.rows:
        cell += f" (at {_rows_label(summary.rows)})"
    return cell


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def _mb(summary: ToolSummary | None) -> str:
    """Peak RSS above baseline; with the anonymous part when mapped files make up most of it."""
    if summary is None or summary.rss_delta_mb is None:
        return "-"
    cell = f"{summary.rss_delta_mb:,.0f}"
    anon = summary.anon_delta_mb
    if anon is not None and summary.rss_delta_mb >= 100 and anon < summary.rss_delta_mb / 2:
        cell += f" ({anon:,.0f} anon)"
    return cell


def summary_table(cases: list[CaseSummary]) -> str:
    """One line per case: rows/s of each tool, quiver's ratios and the memory each tool needed."""
    lines = [
        "| scenario | rows | quiver rows/s | dlt rows/s | floor rows/s | quiver vs dlt "
        "(speed-up) | quiver time / floor time | peak RSS Δ MB quiver / dlt / floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        memory = " / ".join(_mb(case.tools.get(t)) for t in TOOLS)
        lines.append(
            f"| {case.scenario} | {_rows_label(case.rows)} | {_rate_cell(case, 'quiver')} | "
            f"{_rate_cell(case, 'dlt')} | {_rate_cell(case, 'floor')} | "
            f"{_ratio(case.speedup_vs_dlt)} | {_ratio(case.time_vs_floor)} | {memory} |"
        )
    return "\n".join(lines)


def _steps_cell(summary: ToolSummary) -> str:
    """``extract 1.23 (Δ45)``: seconds and peak MB above baseline of each step."""
    return " · ".join(
        f"{name} {seconds:.2f} (Δ{summary.step_rss_delta_mb.get(name, 0):,.0f})"
        for name, seconds in summary.steps.items()
    )


def detail_table(cases: list[CaseSummary]) -> str:
    """One line per tool and case: seconds per step, CPU, memory, and why a run failed."""
    lines = [
        "| scenario | rows | tool | runs ok | total s | steps: s (peak RSS Δ MB) | CPU s "
        "| peak RSS MB | Δ MB | anon Δ MB |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for case in cases:
        for tool in TOOLS:
            summary = case.tools.get(tool)
            if summary is None:
                continue
            rows = _rows_label(summary.rows or case.rows)
            if summary.status != "ok":
                reason = (summary.error or "").replace("|", "\\|").replace("\n", " ")[:160]
                label = STATUS_LABELS.get(summary.status, summary.status)
                lines.append(
                    f"| {case.scenario} | {rows} | {tool} | 0/{summary.runs} | | "
                    f"{label}: {reason} | | | | |"
                )
                continue
            lines.append(
                f"| {case.scenario} | {rows} | {tool} | {summary.ok_runs}/{summary.runs} | "
                f"{summary.total_s:.3f} | {_steps_cell(summary)} | {summary.cpu_s or 0:.2f} | "
                f"{summary.peak_rss_mb or 0:,.0f} | {summary.rss_delta_mb or 0:,.0f} | "
                f"{_count(summary.anon_delta_mb)} |"
            )
    return "\n".join(lines)


def markdown(meta: dict[str, Any], cases: list[CaseSummary], chart_name: str | None) -> str:
    """The whole results section: what ran where, the chart, and both tables."""
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    parts = [
        f"### Results: {meta['date']}, {meta['mode']} mode, {meta['repetitions']} repetition(s)",
        "",
        f"Machine: {meta.get('machine', '?')}. Versions: {versions}.",
        "",
    ]
    busiest = meta.get("max_load_average")
    if busiest is not None:
        parts[-1:-1] = [
            f"Highest 1-minute load average after a run: {busiest} (above the core count means "
            "other processes competed for the CPU and timings are noisy).",
        ]
    if chart_name:
        parts += [f"![rows per second and peak memory per tool](results/{chart_name})", ""]
    parts += [summary_table(cases), "", "Per step (medians):", "", detail_table(cases), ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------- chart
def write_chart(cases: list[CaseSummary], path: Path) -> None:
    """Grouped bars per case: rows/s (log scale) on top, peak RSS above baseline below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"quiver": "#2b7bba", "dlt": "#e8833a", "floor": "#8c8c8c"}
    width = 0.27
    fig, (speed_ax, memory_ax) = plt.subplots(
        2, 1, figsize=(max(8.0, 1.1 * len(cases) + 2), 8), sharex=True
    )
    positions = range(len(cases))
    for offset, tool in enumerate(TOOLS):
        xs = [p + (offset - 1) * width for p in positions]
        for x, case in zip(xs, cases, strict=True):
            summary = case.tools.get(tool)
            if summary is None:
                continue
            if summary.status != "ok":
                label = "n/s" if summary.status == "unsupported" else "x"
                speed_ax.text(
                    x,
                    0.02,
                    label,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color=colors[tool],
                    transform=speed_ax.get_xaxis_transform(),
                )
                continue
            speed_ax.bar(x, summary.rows_per_s or 0, width, color=colors[tool])
            memory_ax.bar(x, summary.rss_delta_mb or 0, width, color=colors[tool])
    speed_ax.set_yscale("log")
    speed_ax.set_ylabel("rows / s (log)")
    speed_ax.set_title("Load throughput: higher is better (n/s: not supported yet, x: failed)")
    memory_ax.set_ylabel("peak RSS above baseline, MB")
    memory_ax.set_title("Memory the load needed: lower is better")
    memory_ax.set_xticks(list(positions))
    memory_ax.set_xticklabels(
        [f"{c.scenario} {_rows_label(c.rows)}" for c in cases], rotation=40, ha="right", fontsize=8
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[t]) for t in TOOLS]
    speed_ax.legend(handles, TOOLS, loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------- outputs
def write_results(
    meta: dict[str, Any],
    runs: list[dict[str, Any]],
    out_dir: Path,
    stem: str,
    *,
    chart: bool = True,
    readme: Path | None = None,
) -> list[CaseSummary]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` and refresh the README block."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = summarize(runs)
    summaries = [
        {
            "scenario": c.scenario,
            "rows": c.rows,
            "speedup_vs_dlt": c.speedup_vs_dlt,
            "time_vs_floor": c.time_vs_floor,
            "tools": {t: asdict(s) for t, s in c.tools.items()},
        }
        for c in cases
    ]
    document = {"meta": meta, "summary": summaries, "runs": runs}
    (out_dir / f"{stem}.json").write_text(json.dumps(document, indent=1, default=str) + "\n")
    chart_name = None
    if chart and cases:
        chart_name = f"{stem}.png"
        write_chart(cases, out_dir / chart_name)
    text = markdown(meta, cases, chart_name)
    (out_dir / f"{stem}.md").write_text(text.replace("](results/", "]("))
    if readme is not None:
        update_readme(readme, text)
    return cases


def update_readme(readme: Path, section: str) -> None:
    """Replace the text between the results markers of ``readme`` with ``section``."""
    content = readme.read_text()
    if README_START not in content or README_END not in content:
        content = content.rstrip() + f"\n\n{README_START}\n{README_END}\n"
    head, rest = content.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{section}\n{README_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    """Rebuild the Markdown, the chart and (with ``--readme``) the README block from a JSON file."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path, help="a benches/results/<stem>.json file")
    parser.add_argument("--readme", action="store_true", help="also refresh benches/README.md")
    args = parser.parse_args(argv)
    document = json.loads(args.results.read_text())
    readme = Path(__file__).with_name("README.md") if args.readme else None
    write_results(
        document["meta"], document["runs"], args.results.parent, args.results.stem, readme=readme
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
