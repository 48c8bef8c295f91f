"""The user guide (``docs/guide/``) runs: every ``python`` block of a page, in order, as one script.

Each page runs in a new Python process in an empty folder (relative paths such as ``lake`` land
there; working folders go to ``$QUIVER_DATA_DIR``). A page whose code names ``s3://<bucket>``
runs against the test S3 server (moto on 127.0.0.1) with those buckets created; nothing can
reach a real cloud. A block preceded by ``<!-- not run: <reason> -->`` is skipped (it needs a
server the tests do not have, such as a REST catalog); there are few, and each says why.
Relative links between the pages, and to the docs they point at, must resolve.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide"
PAGES = sorted(GUIDE.glob("*.md"))
#: At most this many blocks in the whole guide may be left unrun.
MAX_NOT_RUN = 4

_FENCE = re.compile(r"^```(\w*)\s*$")
_NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>[^>]*\S)\s*-->")
_LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")
_BUCKET = re.compile(r"s3://([a-z0-9][a-z0-9.-]{2,62})")


@dataclass
class Block:
    language: str
    code: str
    line: int
    not_run: str | None  # the reason, for a block that is not run


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page, each with the not-run reason just above it, if any."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    position = 0
    while position < len(lines):
        opening = _FENCE.match(lines[position])
        if not opening:
            position += 1
            continue
        above = next((text for text in reversed(lines[:position]) if text.strip()), "")
        reason = _NOT_RUN.search(above)
        end = position + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        code = "\n".join(lines[position + 1 : end])
        found.append(Block(opening.group(1), code, position + 1, reason and reason["reason"]))
        position = end + 1
    return found


def test_the_guide_has_the_pages_the_issue_asks_for() -> None:
    names = {page.stem for page in PAGES}
    assert {
        "README",
        "quickstart",
        "delta-or-iceberg",
        "s3-and-credentials",
        "iceberg-catalogs",
        "write-dispositions",
        "incremental",
        "state",
        "configuration",
        "performance",
        "migrating-from-dlt",
        "reading-data",
    } <= names
    index = (GUIDE / "README.md").read_text()
    assert all(f"({page.name})" in index for page in PAGES if page.stem != "README")


def test_few_blocks_are_left_unrun_and_each_says_why() -> None:
    not_run = [(p.name, b.line, b.not_run) for p in PAGES for b in blocks(p) if b.not_run]
    assert len(not_run) <= MAX_NOT_RUN, not_run
    python_blocks = [b for p in PAGES for b in blocks(p) if b.language == "python"]
    assert len(python_blocks) >= 20


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_links_resolve(page: Path) -> None:
    for match in _LINK.finditer(page.read_text(encoding="utf-8")):
        target = match["target"]
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def _environment(tmp_path: Path) -> dict[str, str]:
    prefixes = ("DESTINATION__", "NORMALIZE__", "DATA_WRITER__", "LOAD__", "EXTRACT__", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["QUIVER_DATA_DIR"] = str(tmp_path / "home")
    env["HOME"] = str(tmp_path / "home")  # no ~/.dlt of the developer
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


@pytest.mark.slow
@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if any(b.language == "python" and not b.not_run for b in blocks(p))],
    ids=lambda p: p.stem,
)
def test_the_python_blocks_of_a_page_run(
    page: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    runnable = [b for b in blocks(page) if b.language == "python" and not b.not_run]
    script = "\n\n".join(f"# {page.name}, line {b.line}\n{b.code}" for b in runnable)
    env = _environment(tmp_path)
    buckets = sorted(set(_BUCKET.findall(script)))
    if buckets:
        server = request.getfixturevalue("s3_server")
        env.update(server.env())
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        import s3fs

        filesystem = s3fs.S3FileSystem(
            key=server.access_key, secret=server.secret_key, endpoint_url=server.endpoint_url
        )
        for bucket in buckets:
            if filesystem.exists(bucket):
                filesystem.rm(bucket, recursive=True)
            filesystem.mkdir(bucket)
    (tmp_path / "page.py").write_text(script, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "page.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{page.name} failed:\n{result.stdout}\n{result.stderr}"
