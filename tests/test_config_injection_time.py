"""When ``config.value``/``secrets.value`` arguments are checked: when the source or resource is
created, in one error listing every missing field, key and file (issue 11).

dlt resolves a source's arguments when the source function is called, and a resource's
arguments lazily, when extract runs the resource. quiver checks both at the call (so a missing
value fails before any work) and still reads a resource's values at extract, as dlt does; see
docs/configuration.md, "When values are checked".
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.errors import ConfigFieldMissingException

SCRIPT = """
import quiver as dlt

@dlt.source
def crm(base_url: str = dlt.config.value):
    @dlt.resource
    def contacts(token: str = dlt.secrets.value):
        yield {"id": 1, "token_length": len(token)}

    @dlt.resource
    def deals(api_key: str = dlt.secrets.value, page_size: int = 10):
        yield {"id": 2, "key_length": len(api_key)}

    return contacts(), deals

pipeline = dlt.pipeline("crm_pipeline", destination="filesystem", pipelines_dir="pipelines")
source = crm()
print("SOURCE CREATED")
pipeline.run(source)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    (folder / ".dlt").mkdir(parents=True)
    monkeypatch.delenv("DLT_PROJECT_DIR", raising=False)
    monkeypatch.chdir(folder)
    return folder


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


@pytest.mark.slow
def test_a_script_missing_two_secrets_fails_at_the_source_call(project: Path) -> None:
    (project / ".dlt" / "config.toml").write_text(
        '[sources.myjob.crm]\nbase_url = "https://crm.example"\n'
        f'[destination.filesystem]\nbucket_url = "{(project / "lake").as_posix()}"\n'
    )
    (project / ".dlt" / "secrets.toml").write_text('[sources.myjob]\nunrelated = "x"\n')
    (project / "myjob.py").write_text(textwrap.dedent(SCRIPT))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DLT_"))}
    done = subprocess.run(
        [sys.executable, "myjob.py"],
        cwd=project,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "SOURCE CREATED" not in done.stdout
    # The traceback ends at the source call, with one exception naming both fields.
    assert "source = crm()" in done.stderr
    assert done.stderr.count("ConfigFieldMissingException") == 1
    assert "Missing 2 field(s) in configuration `crm`" in done.stderr
    for key in (
        "SOURCES__MYJOB__CONTACTS__TOKEN",
        "sources.myjob.contacts.token",
        "SOURCES__MYJOB__DEALS__API_KEY",
        "sources.myjob.deals.api_key",
        "CRM_PIPELINE__SOURCES__MYJOB__DEALS__API_KEY",
    ):
        assert key in done.stderr
    assert str(project / ".dlt" / "secrets.toml") in done.stderr
    # Nothing was extracted: no package, no table.
    assert not [p for p in files_under(project / "pipelines") if "load" in p.as_posix()]
    assert not files_under(project / "lake")


def test_a_standalone_resource_is_checked_when_called(project: Path) -> None:
    @quiver.resource
    def users(page_size: int = quiver.config.value, token: str = quiver.secrets.value) -> Any:
        yield {"id": page_size, "token": token}

    with pytest.raises(ConfigFieldMissingException) as raised:
        users()
    assert raised.value.fields == ["page_size", "token"]
    message = str(raised.value)
    assert "SOURCES__TEST_CONFIG_INJECTION_TIME__USERS__PAGE_SIZE" in message
    assert "SOURCES__TEST_CONFIG_INJECTION_TIME__USERS__TOKEN" in message
    assert str(project / ".dlt" / "secrets.toml") in message
    # An argument given explicitly is never looked up.
    with pytest.raises(ConfigFieldMissingException) as only_token:
        users(page_size=3)
    assert only_token.value.fields == ["token"]


def test_a_resource_a_source_returns_uncalled_is_checked_with_the_source(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @quiver.source
    def shop() -> Any:
        @quiver.resource
        def orders(token: str = quiver.secrets.value) -> Any:
            yield {"id": 1}

        @quiver.transformer(data_from=orders)
        def lines(order: Any, page_size: int = quiver.config.value) -> Any:
            yield {"order": order["id"], "page_size": page_size}

        return orders, lines

    with pytest.raises(ConfigFieldMissingException) as raised:
        shop()
    assert raised.value.spec_name == "shop"
    assert raised.value.fields == ["orders.token", "lines.page_size"]

    monkeypatch.setenv("SOURCES__TOKEN", "abc")
    monkeypatch.setenv("SOURCES__PAGE_SIZE", "5")
    assert list(shop().resources["lines"]) == [{"order": 1, "page_size": 5}]


def test_a_resource_reads_its_values_when_it_runs_as_in_dlt(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @quiver.resource
    def users(page_size: int = quiver.config.value) -> Any:
        yield {"page_size": page_size}

    monkeypatch.setenv("SOURCES__USERS__PAGE_SIZE", "1")
    bound = users()
    # dlt resolves a resource's arguments when extract runs it: a change in between is seen.
    monkeypatch.setenv("SOURCES__USERS__PAGE_SIZE", "2")
    assert list(bound) == [{"page_size": 2}]
