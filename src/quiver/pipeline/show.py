"""A self-contained HTML page of a pipeline: ``pipeline.show()`` and ``quiver pipeline <name> show``.

The page needs no network and no script: CSS and the two bar charts (SVG) are inline. It shows
the tables of every schema as a parent-child tree with their columns, types and hints, rows
per table (read from the tables' metadata, no data is scanned), the last run's steps with their
timings, and the last load packages. Values are HTML-escaped; credentials never reach the page
(the destination is shown by its displayable location).
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quiver.errors import QuiverError
from quiver.schema.model import Schema

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

__all__ = ["render_html", "write_html"]

#: How many of the newest load packages the page lists.
LAST_PACKAGES = 10

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #1d2430; background: #ffffff; }
h1 { font-size: 24px; margin: 0 0 4px 0; }
h2 { font-size: 18px; margin: 28px 0 8px 0; border-bottom: 2px solid #3b6ea5; }
.meta { color: #4a5568; margin: 2px 0; }
table { border-collapse: collapse; margin: 6px 0 12px 0; font-size: 13px; }
th, td { border: 1px solid #cbd5e0; padding: 3px 8px; text-align: left; }
th { background: #e8eef6; }
ul.tree { list-style: none; padding-left: 18px; border-left: 2px solid #cbd5e0; }
ul.tree.root { border-left: none; padding-left: 0; }
.table-name { font-weight: 600; font-size: 15px; }
.badge { display: inline-block; background: #3b6ea5; color: #fff; border-radius: 8px;
         padding: 0 7px; font-size: 12px; margin-left: 6px; }
.note { color: #a0403c; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
"""

_BAR_COLOR = "#3b6ea5"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def bar_chart_svg(title: str, items: Sequence[tuple[str, float]], unit: str) -> str:
    """A horizontal bar chart as inline SVG (one bar per item, the value written beside it)."""
    label_width, bar_width, row, top = 190, 300, 24, 30
    height = top + row * max(len(items), 1) + 10
    peak = max((value for _, value in items), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 110}" '
        f'height="{height}" role="img" aria-label="{_e(title)}">',
        f'<text x="0" y="18" font-size="14" font-weight="600" fill="#1d2430">{_e(title)}</text>',
    ]
    if not items:
        parts.append(f'<text x="0" y="{top + 16}" font-size="12" fill="#4a5568">no data</text>')
    for position, (label, value) in enumerate(items):
        y = top + position * row
        width = max(1.0, bar_width * value / peak) if value else 0.0
        shown = f"{value:,.0f}" if unit == "rows" else f"{value:.2f}"
        parts += [
            f'<text x="{label_width - 6}" y="{y + 15}" font-size="12" text-anchor="end" '
            f'fill="#1d2430">{_e(label)}</text>',
            f'<rect x="{label_width}" y="{y + 3}" width="{width:.1f}" height="{row - 8}" '
            f'fill="{_BAR_COLOR}"/>',
            f'<text x="{label_width + width + 6:.1f}" y="{y + 15}" font-size="12" '
            f'fill="#1d2430">{_e(shown)} {_e(unit)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def _columns_table(table: dict[str, Any]) -> str:
    rows = []
    for name, column in (table.get("columns") or {}).items():
        hints = [
            hint
            for hint in (
                "primary_key",
                "merge_key",
                "unique",
                "partition",
                "cluster",
                "hard_delete",
            )
            if column.get(hint)
        ]
        rows.append(
            f"<tr><td>{_e(name)}</td><td>{_e(column.get('data_type', '?'))}</td>"
            f"<td>{'yes' if column.get('nullable', True) else 'no'}</td>"
            f"<td>{_e(', '.join(hints))}</td></tr>"
        )
    return (
        "<table><tr><th>column</th><th>type</th><th>nullable</th><th>hints</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _table_tree(schema: Schema, parent: str | None, counts: dict[str, int]) -> str:
    children = [
        t
        for t in schema.data_tables()
        if t.get("parent") == parent and not schema.is_new_table(t["name"])
    ]
    if not children:
        return ""
    items = []
    for table in children:
        name = table["name"]
        count = counts.get(name)
        badge = f'<span class="badge">{count:,} rows</span>' if count is not None else ""
        disposition = schema.table_hint(name, "write_disposition", "append")
        table_format = schema.table_hint(name, "table_format") or ""
        items.append(
            f'<li><span class="table-name" data-table="{_e(name)}">{_e(name)}</span>{badge} '
            f'<span class="meta">{_e(disposition)} {_e(table_format)}</span>'
            f"{_columns_table(table)}{_table_tree(schema, name, counts)}</li>"
        )
    css = "tree root" if parent is None else "tree"
    return f'<ul class="{css}">' + "".join(items) + "</ul>"


def _row_counts(pipeline: Pipeline) -> tuple[dict[str, int], str | None]:
    """Rows per data table from the tables' metadata, or the reason they are not available."""
    if pipeline.destination is None or not pipeline.schema_names:
        return {}, "the pipeline has not loaded anything yet"
    try:
        rows = pipeline.dataset().row_counts().fetchall()
    except QuiverError as error:
        return {}, f"row counts are not available: {error}"
    return {str(name): int(count) for name, count in rows}, None


def _steps(pipeline: Pipeline) -> list[tuple[str, float, str]]:
    """``(step, seconds, status)`` of the last run's steps."""
    trace = getattr(pipeline, "last_trace", None)
    steps: list[tuple[str, float, str]] = []
    for step in getattr(trace, "steps", None) or []:
        status = "failed" if getattr(step, "step_exception", None) else "completed"
        steps.append((str(step.step), float(step.duration or 0.0), status))
    return steps


def _packages(pipeline: Pipeline) -> str:
    load_ids = pipeline.list_completed_load_packages()[-LAST_PACKAGES:]
    pending = [
        *((i, "normalized") for i in pipeline.list_normalized_load_packages()),
        *((i, "extracted") for i in pipeline.list_extracted_load_packages()),
    ]
    rows = []
    for load_id in reversed(load_ids):
        info = pipeline.get_load_package_info(load_id)
        jobs = sum(len(v) for v in info.jobs.values())
        failed = len(info.jobs.get("failed_jobs", []))
        completed = info.completed_at.isoformat(" ", "seconds") if info.completed_at else ""
        rows.append(
            f"<tr><td>{_e(load_id)}</td><td>{_e(info.state)}</td><td>{_e(completed)}</td>"
            f"<td>{_load_seconds(load_id, info.completed_at)}</td><td>{jobs}</td>"
            f"<td>{failed}</td></tr>"
        )
    for load_id, state in pending:
        rows.append(
            f"<tr><td>{_e(load_id)}</td><td>{state}</td><td></td><td></td><td></td><td></td></tr>"
        )
    if not rows:
        return '<p class="meta">No load packages yet.</p>'
    return (
        "<table><tr><th>load id</th><th>state</th><th>completed at (UTC)</th>"
        "<th>seconds from extract to load</th><th>jobs</th><th>failed jobs</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _load_seconds(load_id: str, completed_at: datetime.datetime | None) -> str:
    """Seconds from the package's creation (its load id is a unix time) to its completion."""
    if completed_at is None:
        return ""
    try:
        started = float(load_id)
    except ValueError:
        return ""
    return f"{completed_at.timestamp() - started:.2f}"


def render_html(pipeline: Pipeline) -> str:
    """The HTML page of ``pipeline`` as text (see the module docstring for what it shows)."""
    counts, counts_note = _row_counts(pipeline)
    steps = _steps(pipeline)
    destination = pipeline.destination.displayable_location() if pipeline.destination else "not set"
    schemas = pipeline.schemas
    sections = []
    for name in pipeline.schema_names:
        tree = _table_tree(schemas[name], None, counts) or '<p class="meta">No tables yet.</p>'
        sections.append(f"<h3>Schema {_e(name)}</h3>{tree}")
    note = f'<p class="note">{_e(counts_note)}</p>' if counts_note else ""
    row_chart = bar_chart_svg("Rows per table", [(t, float(c)) for t, c in counts.items()], "rows")
    step_chart = bar_chart_svg(
        "Seconds per step (last run)", [(f"{s} ({status})", d) for s, d, status in steps], "s"
    )
    generated = datetime.datetime.now(datetime.UTC).isoformat(" ", "seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>quiver pipeline {_e(pipeline.pipeline_name)}</title>
<style>{_CSS}</style></head>
<body>
<h1>Pipeline {_e(pipeline.pipeline_name)}</h1>
<p class="meta">destination: {_e(destination)} · dataset: {_e(pipeline.dataset_name)}</p>
<p class="meta">working folder: {_e(pipeline.working_dir)} · page written {_e(generated)} UTC</p>
<h2>Rows and timings</h2>{note}<div class="charts">{row_chart}{step_chart}</div>
<h2>Tables</h2>{"".join(sections) or '<p class="meta">No schemas yet.</p>'}
<h2>Last load packages</h2>{_packages(pipeline)}
</body></html>
"""


def write_html(pipeline: Pipeline, path: str | Path | None = None) -> str:
    """Write the page of ``pipeline`` to ``path`` (default ``<working folder>/<name>.html``).

    Returns:
        The path written.
    """
    target = (
        Path(path) if path is not None else pipeline.working_dir / f"{pipeline.pipeline_name}.html"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(pipeline), encoding="utf-8")
    return str(target)
