"""``quiver.current``: the pipeline, source state and resource state of the running code.

Examples:
    >>> import quiver
    >>> @quiver.resource
    ... def counter():
    ...     state = quiver.current.resource_state()
    ...     state["runs"] = state.get("runs", 0) + 1
    ...     yield {"run": state["runs"]}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quiver.errors import StateNotAvailable
from quiver.extract.state import resource_state, source_state

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

__all__ = ["StateNotAvailable", "pipeline", "resource_state", "source_state", "state"]


def pipeline() -> Pipeline:
    """The pipeline being run (during extract), else the active one.

    Raises:
        StateNotAvailable: no pipeline was created yet.
    """
    from quiver.extract.state import current_pipeline

    active = current_pipeline()
    if active is None:
        raise StateNotAvailable(
            "No pipeline is active. Hint: create one with quiver.pipeline(...)."
        )
    running: Pipeline = active
    return running


def state() -> dict[str, Any]:
    """Alias of :func:`source_state` (dlt's ``dlt.current.state()``)."""
    return source_state()
