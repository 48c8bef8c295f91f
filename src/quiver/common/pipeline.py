"""``quiver.common.pipeline``: dlt's ``dlt.common.pipeline`` helpers users import."""

from __future__ import annotations

from quiver.pipeline.factory import default_pipelines_dir

__all__ = ["get_dlt_pipelines_dir"]


def get_dlt_pipelines_dir() -> str:
    """The folder pipelines live in when ``pipelines_dir`` is not given.

    ``$QUIVER_DATA_DIR/pipelines``, else ``~/.quiver/pipelines`` (dlt: ``~/.dlt/pipelines``).
    """
    return default_pipelines_dir()
