"""Packages that failed deterministically: moved out of the way, listed, and retried on request.

A package whose error would come back on every attempt (:data:`quiver.load.retry.DETERMINISTIC`:
bad data, a wrong hint, a bug in quiver) must not block the pipeline. Normalize moves such a
package, as it was extracted, into ``failed/<load_id>/``; load aborts it into
``loaded/<load_id>/`` with state ``aborted`` (dlt's place for it, where
``list_failed_jobs_in_package`` finds its jobs). Both get a ``failure.json``
(:class:`~quiver.package.storage.PackageFailure`). Nothing is deleted:
:meth:`FailedPackages.retry_failed_package` puts the package back where it failed and the next
``run()`` (or ``normalize()``/``load()``) tries it again. See docs/bad-input.md,
"Failed packages".
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from quiver.errors import FailedPackageNotFound
from quiver.package.storage import PackageFailure, PackageStorage, Stage
from quiver.pipeline.lock import FolderLock

__all__ = ["FailedPackageInfo", "FailedPackages", "failed_package_info"]


@dataclass(frozen=True)
class FailedPackageInfo:
    """A package that failed deterministically, with its error (quiver only; dlt has none).

    Attributes:
        load_id: the package.
        step: ``"normalize"`` (moved to ``failed/``) or ``"load"`` (aborted in ``loaded/``).
        kind: ``"terminal"`` (the data or a hint is wrong) or ``"bug"`` (a bug in quiver).
        exception_type: the class name of the error.
        message: the error's message (secrets masked).
        failed_at: when it failed (UTC).
        package_path: the package folder.
    """

    load_id: str
    step: str
    kind: str
    exception_type: str
    message: str
    failed_at: datetime.datetime
    package_path: str

    def asdict(self) -> dict[str, Any]:
        return {
            "load_id": self.load_id,
            "step": self.step,
            "kind": self.kind,
            "exception_type": self.exception_type,
            "message": self.message,
            "failed_at": self.failed_at.isoformat(),
            "package_path": self.package_path,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> FailedPackageInfo:
        """The info written by :meth:`asdict` (the run trace keeps it)."""
        failed_at = datetime.datetime.fromisoformat(document["failed_at"])
        return cls(**{**document, "failed_at": failed_at})

    def __str__(self) -> str:
        return (
            f"Package {self.load_id} failed at {self.step} ({self.kind}) with "
            f"{self.exception_type}: {self.message} [kept in {self.package_path}]"
        )


def failed_package_info(package: Path, failure: PackageFailure) -> FailedPackageInfo:
    """The info of a failed ``package`` from its ``failure.json``."""
    return FailedPackageInfo(
        load_id=package.name,
        step=failure["step"],
        kind=failure["kind"],
        exception_type=failure["exception_type"],
        message=failure["message"],
        failed_at=datetime.datetime.fromisoformat(failure["failed_at"]),
        package_path=str(package),
    )


class FailedPackages:
    """``list_failed_packages`` and ``retry_failed_package`` of a pipeline (a mixin)."""

    pipeline_name: str
    folder_lock: FolderLock
    _storage: PackageStorage

    def list_failed_packages(self) -> list[FailedPackageInfo]:
        """Packages that failed deterministically and wait for a fix, oldest first.

        Normalize failures are kept in ``failed/``; packages aborted at load stay in
        ``loaded/`` (state ``aborted``, dlt's place for them). Neither blocks later runs.

        Returns:
            One :class:`FailedPackageInfo` per package, with the error that failed it.
        """
        found: list[FailedPackageInfo] = []
        stages: tuple[Stage, ...] = ("failed", "loaded")
        for stage in stages:
            for load_id in self._storage.load_ids(stage):
                package = self._storage.path(stage, load_id)
                failure = self._storage.read_failure(package)
                if failure is not None:
                    found.append(failed_package_info(package, failure))
        return sorted(found, key=lambda info: Decimal(info.load_id))

    def retry_failed_package(self, load_id: str) -> str:
        """Put a failed or aborted package back where it failed; the next run loads it.

        A package that failed at normalize goes back to ``extracted/``; one aborted at load goes
        back to ``normalized/`` with its failed jobs as new jobs (tables it already committed
        are not committed twice: every commit carries the load id). What counts as a fix is in
        docs/bad-input.md ("Failed packages"): a newer quiver, changed configuration, a changed
        destination table, or an edited ``schema.json`` of the package.

        Args:
            load_id: the package, as listed by :meth:`list_failed_packages`.

        Returns:
            The stage the package is in now: ``"extracted"`` or ``"normalized"``.

        Raises:
            FailedPackageNotFound: no failed or aborted package has this load id.
        """
        with self.folder_lock:
            failed = self._storage.path("failed", load_id)
            if failed.is_dir():
                failure = self._storage.read_failure(failed)
                stage: Stage = failure["stage"] if failure else "extracted"
                self._storage.restore_failed(load_id, stage)
                return stage
            aborted = self._storage.path("loaded", load_id)
            if aborted.is_dir() and self._storage.read_failure(aborted) is not None:
                self._storage.failed_jobs_to_new(aborted)
                self._storage.move(load_id, "loaded", "failed")
                self._storage.restore_failed(load_id, "normalized")
                return "normalized"
        known = [info.load_id for info in self.list_failed_packages()]
        raise FailedPackageNotFound(self.pipeline_name, load_id, known)
