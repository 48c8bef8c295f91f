"""quiver turns off transparent huge pages in Arrow's mimalloc pool when it is imported first.

Measured (docs/guide/performance.md, "Huge pages"): huge pages made the first run in a process
fault memory in 2 MB at a time and kept more of it resident. mimalloc reads its options when
pyarrow loads, so the default only applies when ``import quiver`` comes first; a value the user
set is never changed. Checked in fresh interpreters, by mimalloc's own report of its options.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _mimalloc_thp_option(code: str, **env: str) -> str:
    """The ``allow_thp`` line mimalloc prints at start-up (``MIMALLOC_VERBOSE``)."""
    environment = {k: v for k, v in os.environ.items() if k != "MIMALLOC_ALLOW_THP"}
    environment.update(MIMALLOC_VERBOSE="1", **env)
    finished = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    lines = [line for line in finished.stderr.splitlines() if "'allow_thp'" in line]
    if not lines:
        pytest.fail(f"mimalloc printed no allow_thp option:\n{finished.stderr[-2000:]}")
    return lines[0].split(":")[-1].strip()


def test_importing_quiver_first_turns_huge_pages_off() -> None:
    assert _mimalloc_thp_option("import quiver, pyarrow as pa; pa.array([1])") == "0"


def test_pyarrow_imported_before_quiver_keeps_its_default() -> None:
    # Too late to change: mimalloc read its options when pyarrow loaded (its default is on).
    assert _mimalloc_thp_option("import pyarrow as pa; import quiver; pa.array([1])") == "1"


def test_a_value_the_user_set_is_kept() -> None:
    code = "import os, quiver; assert os.environ['MIMALLOC_ALLOW_THP'] == '1'"
    assert _mimalloc_thp_option(code, MIMALLOC_ALLOW_THP="1") == "1"
