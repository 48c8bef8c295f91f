"""Where a bad-input corpus case runs: a local lake, the S3 server, an Iceberg SqlCatalog, or a
bad location (a missing bucket, an unreachable endpoint, a file as the bucket, a full disk)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.bad_input_model import Case
from tests.corpus_support import LakeReader

UNREACHABLE_ENDPOINT = "http://127.0.0.1:9"
#: The secret embedded in a bucket_url (item 8): never echoed, never in the working folder.
SECRET = "Sup3rSecretValue42"


@dataclass
class Target:
    """Where a case loads, how to read it back, and where run (b) goes."""

    bucket_url: str
    reader: LakeReader
    after_destination: Any = None
    after_reader: LakeReader | None = None
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def build_target(
    name: str,
    table_format: str,
    case: Case,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> Target:
    import quiver

    local_url = f"file://{tmp_path / 'lake'}"
    local = LakeReader(table_format, local_url, case.read_dataset)
    if name == "local":
        return Target(local_url, local)
    if name == "sql":
        uri = f"sqlite:///{tmp_path / 'catalog.db'}"
        monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE", "sql")
        monkeypatch.setenv("ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG", f'{{"uri": "{uri}"}}')
        return Target(
            local_url, LakeReader(table_format, local_url, case.read_dataset, sql_uri=uri)
        )
    good_local = quiver.destinations.filesystem(bucket_url=local_url, table_format=table_format)
    if name == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        server = request.getfixturevalue("s3_server")
        url = f"{bucket}/lake"
        return Target(url, LakeReader(table_format, url, case.read_dataset, server.endpoint_url))
    if name == "escape":
        url = f"file://{tmp_path / 'a' / 'lake'}"
        return Target(url, LakeReader(table_format, url, case.read_dataset), good_local, local)
    if name == "missing_bucket":
        request.getfixturevalue("s3_bucket")  # the server's environment, not its bucket
        url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/lake"
        return Target(url, local, good_local, local)
    if name == "unreachable":
        request.getfixturevalue("s3_bucket")
        for key in ("AWS_ENDPOINT_URL", "DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL"):
            monkeypatch.setenv(key, UNREACHABLE_ENDPOINT)
        return Target("s3://unreachable-bucket/lake", local, good_local, local)
    if name == "secret_url":
        bucket = request.getfixturevalue("s3_bucket").removeprefix("s3://")
        server = request.getfixturevalue("s3_server")
        url = f"s3://testing:{SECRET}@{bucket}/lake"
        reader = LakeReader(
            table_format, f"s3://{bucket}/lake", case.read_dataset, server.endpoint_url
        )
        return Target(url, reader)
    if name == "file_bucket":
        (tmp_path / "not_a_folder").write_text("a file where the lake should be")
        return Target(f"file://{tmp_path / 'not_a_folder'}", local, good_local, local)
    if name == "disk_full":
        return _small_filesystem(table_format, case, tmp_path)
    raise AssertionError(f"unknown target {name}")


def _small_filesystem(table_format: str, case: Case, tmp_path: Path) -> Target:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs without privileges: {mounted.stderr.strip()}")
    url = f"file://{mount_point / 'lake'}"
    target = Target(url, LakeReader(table_format, url, case.read_dataset))
    target.cleanup.append(
        lambda: subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True)
    )
    return target


def grow(mount_point: Path) -> None:
    subprocess.run(
        ["mount", "-o", "remount,size=64m", str(mount_point)], check=True, capture_output=True
    )


def reverse_file_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's files listed in reverse creation order (fault injection: a listing order
    that puts the last file extracted first, as a filesystem may)."""
    from quiver.package.storage import PackageStorage

    listed = PackageStorage.jobs

    def reversed_listing(package: Path, state: Any) -> list[Path]:
        return list(reversed(listed(package, state)))

    monkeypatch.setattr(PackageStorage, "jobs", staticmethod(reversed_listing))
