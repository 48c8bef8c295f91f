"""quiver ships its types: mypy checks a user's script against them (py.typed).

The script below is what a user writes; mypy (from the venv, in a subprocess) must report the
typo'd and mistyped arguments and reveal the types an editor would show.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import quiver

USER_SCRIPT = """
from collections.abc import Iterator
from typing import Any

import quiver


@quiver.resource(primary_key="id", write_disposition="merge")
def users(limit: int = 10) -> Iterator[dict[str, Any]]:
    yield from ({"id": i} for i in range(limit))


@quiver.resource
def plain() -> Iterator[dict[str, Any]]:
    yield {"id": 1}


@quiver.source
def shop(count: int = 2) -> Any:
    return users(count)


reveal_type(users(5))  # BOUND
reveal_type(plain)  # PLAIN
reveal_type(quiver.resource([{"id": 1}], name="rows"))  # ON_DATA
reveal_type(shop(3))  # SOURCE
quiver.resource([{"id": 1}], name="rows", primary_keys="id")  # TYPO
quiver.resource([{"id": 1}], name="rows", write_disposition="mege")  # BAD_VALUE
users(5).apply_hints(table_format="icebreg")  # BAD_FORMAT
shop("three")  # BAD_SOURCE_ARG
typed = quiver.pipeline("typed", destination="filesystem")
typed.run(users(5), write_disposition="mege")  # RUN_BAD_VALUE
typed.run(users(5), table_format="icebreg", primary_key=["id"])  # RUN_BAD_FORMAT
info = typed.run(users(5), write_disposition={"disposition": "merge", "strategy": "scd2"})
assert info is not None
reveal_type(info.loads_ids)  # LOADS_IDS
"""


def _line_of(marker: str) -> int:
    lines = USER_SCRIPT.splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.endswith(f"# {marker}"))


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[str]]:
    """mypy's messages on the user script, by line."""
    folder = tmp_path_factory.mktemp("user")
    script = folder / "user_script.py"
    script.write_text(USER_SCRIPT)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-color-output",
            "--cache-dir",
            str(folder / ".mypy_cache"),
            str(script),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "missing library stubs or py.typed marker" not in result.stdout, result.stdout
    by_line: dict[int, list[str]] = {}
    for match in re.finditer(r"^user_script\.py:(\d+): (.*)$", result.stdout, re.MULTILINE):
        by_line.setdefault(int(match.group(1)), []).append(match.group(2))
    assert by_line, result.stdout + result.stderr
    return by_line


def _revealed(report: dict[int, list[str]], marker: str) -> str:
    notes = [m for m in report.get(_line_of(marker), []) if "Revealed type is" in m]
    assert len(notes) == 1, report.get(_line_of(marker))
    return notes[0].split('Revealed type is "', 1)[1].rstrip('"').replace("builtins.", "")


def test_py_typed_ships_with_the_package() -> None:
    package = Path(quiver.__file__).parent
    assert (package / "py.typed").is_file()
    pyproject = tomllib.loads((package.parents[1] / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["quiver"]


def test_decorated_resources_type_as_resources(mypy_report: dict[int, list[str]]) -> None:
    for marker in ("BOUND", "PLAIN", "ON_DATA"):
        assert _revealed(mypy_report, marker) == "quiver.extract.resource.Resource", marker
    assert _revealed(mypy_report, "SOURCE") == "quiver.extract.source.Source"


def test_typo_and_values_outside_the_vocabulary_are_reported(
    mypy_report: dict[int, list[str]],
) -> None:
    typo = " ".join(mypy_report.get(_line_of("TYPO"), []))
    assert 'Unexpected keyword argument "primary_keys"' in typo
    assert 'did you mean "primary_key"?' in typo
    assert any("error:" in m for m in mypy_report.get(_line_of("BAD_VALUE"), []))
    bad_format = " ".join(mypy_report.get(_line_of("BAD_FORMAT"), []))
    assert "table_format" in bad_format and "icebreg" in bad_format
    for marker in ("RUN_BAD_VALUE", "RUN_BAD_FORMAT"):  # Pipeline.run speaks the same vocabulary
        assert any("error:" in m for m in mypy_report.get(_line_of(marker), [])), marker
    bad_source = " ".join(mypy_report.get(_line_of("BAD_SOURCE_ARG"), []))
    assert 'incompatible type "str"; expected "int"' in bad_source


def test_load_info_ids_are_a_list_of_str(mypy_report: dict[int, list[str]]) -> None:
    assert _revealed(mypy_report, "LOADS_IDS") == "list[str]"
    # Nothing else in the script is an error: the reported lines are exactly the marked ones.
    error_lines = {line for line, ms in mypy_report.items() if any("error:" in m for m in ms)}
    markers = (
        "TYPO",
        "BAD_VALUE",
        "BAD_FORMAT",
        "BAD_SOURCE_ARG",
        "RUN_BAD_VALUE",
        "RUN_BAD_FORMAT",
    )
    expected = {_line_of(m) for m in markers}
    assert error_lines == expected
