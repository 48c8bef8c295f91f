"""Staging: normalized files placed on a filesystem location before their table commit.

dlt's staging is a filesystem destination that load files are uploaded to before the final
destination loads them (``staging="filesystem"``). In quiver, with a staging location, the
loader places every normalized file of a table at
``<staging bucket_url>/<dataset_name>/<table>/<load_id>.<file_id>.parquet`` (a hard link on
local disk, an upload on s3) and only then commits the table. The commit registers the
package's local copy of each file, which holds the same bytes (checked by size after the
upload): a Delta add action must point below the table root, and an Iceberg table must not
depend on files that staging truncation deletes. See ``docs/staging.md``.

Staged names are deterministic, so a retried package stages the same names again; a table
whose commit holds the load id already is neither staged nor committed again. As in dlt
(``truncate_tables_on_staging_destination_before_load``, default true), the staged files of
earlier loads of a table are deleted before the table is staged again; staged files are kept
after the commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quiver.configuration import lookup as config
from quiver.destinations.filesystem import FilesystemDestination, resolve_staging
from quiver.destinations.location import StorageLocation
from quiver.destinations.placement import file_id, place_file
from quiver.errors import DestinationConfigError, TransientStorageError
from quiver.schema.documents import PipelineState

#: dlt's setting of the final destination: delete a table's staged files of earlier loads
#: before staging it again.
TRUNCATE_KEY = "truncate_tables_on_staging_destination_before_load"


def record_staging(state: PipelineState, staging: Any) -> bool:
    """Resolve ``staging`` and store its non-secret settings in ``state`` (as the destination's).

    Credentials never go into the state: they come from config each time.

    Args:
        state: The pipeline state.
        staging: What ``pipeline()``/``run()``/``attach()`` got; ``None`` keeps the stored one.

    Returns:
        Whether the state changed.

    Raises:
        ConfigFieldMissingException: the staging location has no ``bucket_url``.
        DestinationConfigError: ``staging`` is not a filesystem location.
    """
    resolved = resolve_staging(staging)
    if resolved is None:
        return False
    stored = {
        "bucket_url": str(resolved.resolved_bucket_url()),
        "table_format": resolved.table_format,
        "destination_name": resolved.destination_name,
    }
    if state.get("staging") == stored:
        return False
    state["staging"] = {
        "bucket_url": stored["bucket_url"],
        "table_format": stored["table_format"],
        "destination_name": stored["destination_name"],
    }
    return True


def staging_from_state(state: PipelineState) -> FilesystemDestination | None:
    """The staging location stored in ``state`` (credentials from config), or ``None``."""
    stored = state.get("staging")
    return FilesystemDestination(**stored) if stored else None


class StagingArea:
    """The staging folder of one dataset; the loader stages each table's files through it."""

    def __init__(
        self,
        staging: FilesystemDestination,
        destination: FilesystemDestination,
        dataset_name: str,
    ) -> None:
        """
        Args:
            staging: The staging location.
            destination: The final destination (for its
                ``truncate_tables_on_staging_destination_before_load`` setting, as in dlt).
            dataset_name: The dataset; files are staged below ``<staging>/<dataset_name>``.

        Raises:
            DestinationConfigError: the staging folder of the dataset is the dataset folder of
                the destination, or inside it, or holds it.
        """
        self.location = staging.location().join(dataset_name)
        target = destination.location().join(dataset_name)
        if _overlaps(self.location, target):
            raise DestinationConfigError(
                f"Staging of dataset {dataset_name!r} at {self.location} overlaps the "
                f"destination's dataset folder {target}: staged files would land among the "
                "table files. Hint: give staging its own bucket_url, e.g. staging="
                "quiver.destinations.filesystem(bucket_url='s3://bucket/staging'), or a named "
                "destination (DESTINATION__MY_STAGING__BUCKET_URL, "
                "DESTINATION__MY_STAGING__DESTINATION_TYPE=filesystem, staging='my_staging')."
            )
        truncate = destination.kwargs.get(TRUNCATE_KEY)
        if truncate is None:
            truncate = config.get(destination.config_sections, TRUNCATE_KEY, True)
        self.truncate_before_load = bool(truncate)

    def staged_name(self, load_id: str, job_file: Path) -> str:
        """``<load_id>.<file_id>.parquet``: the same name on every retry of the package."""
        return f"{load_id}.{file_id(job_file)}.parquet"

    def stage(self, table_name: str, load_id: str, files: list[Path]) -> list[StorageLocation]:
        """Place the table's files of this load in staging; returns where they are.

        With ``truncate_tables_on_staging_destination_before_load`` (default true), the
        table's staged files of other loads are deleted first.

        Raises:
            OSError: the upload failed.
            TransientStorageError: a staged file's size differs from the local one (the loader
                retries the table).
        """
        folder = self.location.join(table_name)
        if self.truncate_before_load:
            self._truncate(folder, keep_prefix=f"{load_id}.")
        placed = []
        for path in files:
            target = folder.join(self.staged_name(load_id, path))
            place_file(path, target)
            size = target.filesystem().size(target.path)
            if size != path.stat().st_size:
                short = OSError(f"staged {target} has {size} of {path.stat().st_size} bytes")
                raise TransientStorageError(table_name, load_id, short)
            placed.append(target)
        return placed

    def _truncate(self, folder: StorageLocation, keep_prefix: str) -> None:
        """Delete the files in ``folder`` whose names do not start with ``keep_prefix``."""
        filesystem = folder.filesystem()
        if not filesystem.exists(folder.path):
            return
        for entry in filesystem.ls(folder.path, detail=False):
            name = str(entry).rstrip("/").rsplit("/", 1)[-1]
            if not name.startswith(keep_prefix) and filesystem.isfile(entry):
                filesystem.rm_file(entry)


def _overlaps(first: StorageLocation, second: StorageLocation) -> bool:
    """Whether one location is the other or lies below it."""
    a, b = first.url.rstrip("/") + "/", second.url.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)
