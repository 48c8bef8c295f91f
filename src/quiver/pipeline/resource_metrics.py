"""Per-resource metrics of an extract: ``ExtractInfo.metrics[load_id][0]["resource_metrics"]``.

dlt reports what ``Resource.add_metrics`` steps collected there, as an object with a
``custom_metrics`` dict, one per resource; quiver keeps the same path and attribute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ResourceMetrics:
    """What one resource reported in one package.

    Attributes:
        custom_metrics: what its ``add_metrics`` steps put in their dicts.
    """

    custom_metrics: dict[str, Any] = field(default_factory=dict)


#: ``ExtractInfo.metrics``: per load id, a one-element list holding ``resource_metrics``.
ExtractMetricsByLoad = dict[str, list[dict[str, dict[str, ResourceMetrics]]]]


def package_metrics(custom_metrics: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``metrics[load_id]`` entry of one package from its resources' custom metrics."""
    resources = {name: ResourceMetrics(dict(values)) for name, values in custom_metrics.items()}
    return [{"resource_metrics": resources}]


def metrics_document(metrics: ExtractMetricsByLoad) -> dict[str, Any]:
    """Plain values for the trace (``trace.json``)."""
    return {
        load_id: [
            {
                "resource_metrics": {
                    name: {"custom_metrics": m.custom_metrics}
                    for name, m in entry["resource_metrics"].items()
                }
            }
            for entry in entries
        ]
        for load_id, entries in metrics.items()
    }


def metrics_from_document(document: dict[str, Any]) -> ExtractMetricsByLoad:
    """:func:`metrics_document` read back."""
    return {
        load_id: [
            {
                "resource_metrics": {
                    name: ResourceMetrics(dict(m.get("custom_metrics", {})))
                    for name, m in entry.get("resource_metrics", {}).items()
                }
            }
            for entry in entries
        ]
        for load_id, entries in document.items()
    }
