"""Pytest plugin: a real S3 server on loopback (moto in server mode) for the whole session.

Load it with ``pytest_plugins = ["tests.s3_server"]`` in the top-level ``conftest.py``, or
import the fixtures from it. moto runs as a separate process: deltalake holds the GIL while it
waits on HTTP, so an in-process (threaded) moto server would hang it.

Fixtures:
    s3_server: The running server (``S3Server``), one per session.
    s3_bucket: A fresh, empty bucket per test, as ``"s3://<bucket>"``; the test's environment
        points every AWS client at the server and at nothing else.

The marker PYTEST_DONT_REWRITE keeps pytest from warning (an error under
``filterwarnings = error``) when this module is imported before it is registered as a plugin.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["S3Server", "s3_bucket", "s3_server"]

READY_TIMEOUT_S = 20.0
_POLL_INTERVAL_S = 0.05
_PORT_LINE = re.compile(rb"Running on http://127\.0\.0\.1:(\d+)")
_CREDENTIALS_PREFIX = "DESTINATION__FILESYSTEM__CREDENTIALS__"
# Loopback must never go through a proxy, whichever HTTP stack a test uses.
_NO_PROXY_HOSTS = "127.0.0.1,localhost"


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server.

    Attributes:
        endpoint_url: Base URL, such as ``"http://127.0.0.1:41234"``.
        access_key: Access key id it accepts (moto accepts any).
        secret_key: Secret access key it accepts.
        region: Region to sign requests for.
    """

    endpoint_url: str
    access_key: str = "testing"
    secret_key: str = field(default="testing", repr=False)
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The environment that points AWS clients and quiver at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
            "AWS_EC2_METADATA_DISABLED": "true",
            f"{_CREDENTIALS_PREFIX}AWS_ACCESS_KEY_ID": self.access_key,
            f"{_CREDENTIALS_PREFIX}AWS_SECRET_ACCESS_KEY": self.secret_key,
            f"{_CREDENTIALS_PREFIX}ENDPOINT_URL": self.endpoint_url,
            f"{_CREDENTIALS_PREFIX}REGION_NAME": self.region,
        }


def _moto_server_executable() -> Path:
    executable = Path(sys.executable).parent / "moto_server"
    if not executable.exists():
        pytest.fail(
            f"{executable} not found: the S3 tests need moto's server. "
            "Hint: pip install 'moto[server]' into this environment.",
            pytrace=False,
        )
    return executable


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel stop moto when pytest dies without teardown.

    Linux only (``prctl(PR_SET_PDEATHSIG)``). Everything is looked up here, in the parent: the
    child runs between fork and exec, where importing or locking is unsafe.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigterm = int(signal.SIGTERM)

    def hook() -> None:
        prctl(pr_set_pdeathsig, sigterm)

    return hook


def _read_port(log_path: Path) -> int | None:
    match = _PORT_LINE.search(log_path.read_bytes())
    return int(match.group(1)) if match else None


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_ready(process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    endpoint: str | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"moto_server exited with code {process.returncode} before it was ready; "
                f"its log ({log_path}):\n{log_path.read_text(errors='replace')}"
            )
        if endpoint is None and (port := _read_port(log_path)) is not None:
            endpoint = f"http://127.0.0.1:{port}"
        if endpoint is not None and _answers(f"{endpoint}/moto-api/"):
            return endpoint
        time.sleep(_POLL_INTERVAL_S)
    raise RuntimeError(
        f"moto_server was not ready after {READY_TIMEOUT_S:.0f} s (endpoint: {endpoint}); "
        f"its log ({log_path}):\n{log_path.read_text(errors='replace')}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Start ``moto_server`` on a free loopback port for the session; stop it at the end."""
    log_path = tmp_path_factory.mktemp("moto_server") / "moto_server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(_moto_server_executable()), "-H", "127.0.0.1", "-p", "0"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent_hook(),
        )
    try:
        endpoint = _wait_until_ready(process, log_path)
        yield S3Server(endpoint_url=endpoint)
    finally:
        _stop(process)


def _isolate_environment(monkeypatch: pytest.MonkeyPatch, server: S3Server) -> None:
    wanted = server.env()
    for name in list(os.environ):
        stale_aws = name.startswith("AWS_") or name.startswith(_CREDENTIALS_PREFIX)
        if stale_aws and name not in wanted:
            monkeypatch.delenv(name)
    for name, value in wanted.items():
        monkeypatch.setenv(name, value)
    for name in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(name)
        monkeypatch.setenv(name, f"{current},{_NO_PROXY_HOSTS}" if current else _NO_PROXY_HOSTS)


@functools.cache
def _s3fs(server: S3Server) -> Any:
    # One client per server: a new s3fs client costs ~0.2 s on its first request.
    import s3fs

    return s3fs.S3FileSystem(
        key=server.access_key,
        secret=server.secret_key,
        endpoint_url=server.endpoint_url,
        skip_instance_cache=True,
        use_listings_cache=False,
    )


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on the session's S3 server, as ``"s3://<bucket>"``.

    The test's environment points every AWS client at the server: ``AWS_ENDPOINT_URL``, keys,
    region, ``AWS_ALLOW_HTTP=true``, ``AWS_EC2_METADATA_DISABLED=true``, and the matching
    ``DESTINATION__FILESYSTEM__CREDENTIALS__*``; every other ``AWS_*`` and
    ``DESTINATION__FILESYSTEM__CREDENTIALS__*`` variable is removed, so nothing can reach a real
    cloud, and loopback bypasses any proxy. The bucket is emptied and deleted afterwards.
    """
    _isolate_environment(monkeypatch, s3_server)
    bucket = f"quiver-test-{uuid.uuid4().hex[:8]}"
    filesystem = _s3fs(s3_server)
    filesystem.mkdir(bucket)
    yield f"s3://{bucket}"
    # Best effort: moto keeps objects in memory, but a failed cleanup must not fail the test.
    with contextlib.suppress(OSError):
        filesystem.rm(bucket, recursive=True)
