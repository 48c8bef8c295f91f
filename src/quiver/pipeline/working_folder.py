"""What a Pipeline answers and does about its working folder: packages, state on disk, sync.

:class:`WorkingFolder` is a base of :class:`quiver.pipeline.pipeline.Pipeline`; it keeps the
folder-level members (dlt's names) out of the orchestration module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from quiver.package.storage import PackageStorage
from quiver.pipeline.local_state import adopt_newer_package_state, read_state
from quiver.pipeline.lock import FolderLock
from quiver.schema.documents import PipelineState

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline


class WorkingFolder:
    """Packages, local state and destination sync of a pipeline's working folder."""

    working_dir: Path
    folder_lock: FolderLock
    #: Whether this instance synced with the destination (``run()`` does it once).
    synced: bool
    _storage: PackageStorage
    _state: PipelineState

    @property
    def first_run(self) -> bool:
        """True until a load completes or a state is restored from the destination."""
        return bool(self._state["_local"].get("first_run", True))

    @property
    def has_pending_data(self) -> bool:
        """Whether extracted or normalized packages wait for the next ``run()``."""
        return bool(self._storage.load_ids("extracted") or self._storage.load_ids("normalized"))

    def list_extracted_load_packages(self) -> list[str]:
        """Load ids of packages waiting for normalize, oldest first."""
        return self._storage.load_ids("extracted")

    def list_normalized_load_packages(self) -> list[str]:
        """Load ids of packages waiting for load, oldest first."""
        return self._storage.load_ids("normalized")

    def list_completed_load_packages(self) -> list[str]:
        """Load ids of loaded (or aborted) packages, oldest first."""
        return self._storage.load_ids("loaded")

    def drop_pending_packages(self) -> None:
        """Delete the extracted and normalized packages (their data is never loaded)."""
        with self.folder_lock:
            self._storage.drop_pending()

    def reload_state(self) -> None:
        """Re-read ``state.json``: another process attached to this folder may have run."""
        self._state = adopt_newer_package_state(
            read_state(self.working_dir) or self._state, self._storage
        )

    def sync_destination(self) -> bool:
        """Restore state and schemas from the dataset when its state is newer.

        See :func:`quiver.pipeline.sync.sync_destination`.

        Returns:
            Whether the dataset's state replaced the local one.
        """
        from quiver.pipeline import sync

        self.synced = True
        return sync.sync_destination(self._as_pipeline())

    def drop(self) -> Pipeline:
        """Delete the working folder's content (state, schemas, packages) and start afresh.

        The dataset is not touched: the next ``run()`` restores the state from it (dlt's
        ``Pipeline.drop()``, a local wipe).

        Returns:
            The pipeline.
        """
        from quiver.pipeline import sync

        pipeline = self._as_pipeline()
        sync.drop_local(pipeline)
        return pipeline

    def _as_pipeline(self) -> Pipeline:
        return cast("Pipeline", self)  # the only subclass
