"""Config providers as a dlt user uses them: a project folder with .dlt/*.toml, env vars, scripts.

Behaviour from dlt's docs ("Overview and examples", "Configuration providers", "Advanced secrets
and configs"): providers are queried in order — environment variables, then secrets.toml and
config.toml — and the first that has a value wins; TOML keys are case-sensitive, sections are
tables; a lookup drops the innermost section until the key is found; the active pipeline's name
may prefix every key; a script's sources are under ``sources.<script stem>``; a missing value is
``ConfigFieldMissingException`` naming what was tried.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.errors import ConfigFieldMissingException, ConfigValueNotSecret
from tests.readers import delta_rows_polars


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dlt project folder, the current directory (as `python myjob.py` would run in it)."""
    folder = tmp_path / "project"
    folder.mkdir(exist_ok=True)
    monkeypatch.delenv("DLT_PROJECT_DIR")
    monkeypatch.chdir(folder)
    return folder


# --------------------------------------------------------------- a script run from the project
SCRIPT = """
import quiver as dlt

@dlt.resource(write_disposition="append")
def users(page_size: int = dlt.config.value, token: str = dlt.secrets.value):
    for i in range(page_size):
        yield {"id": i, "token_length": len(token)}

pipeline = dlt.pipeline("myjob_pipeline", destination="filesystem", pipelines_dir="pipelines")
print(pipeline.run(users()))
"""


def run_script(folder: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = write(folder / "myjob.py", SCRIPT)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DLT_"))}
    return subprocess.run(
        [sys.executable, script.name],
        cwd=folder,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_a_script_reads_its_project_toml_files(project: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write(
        project / ".dlt" / "config.toml",
        f"""
        [destination.filesystem]
        bucket_url = "{lake.as_posix()}"

        [sources.myjob.users]
        page_size = 3
        """,
    )
    # The script's sources are under its file stem, not `__main__` (dlt's get_module_name).
    write(project / ".dlt" / "secrets.toml", '[sources.myjob]\ntoken = "abcdef"\n')
    done = run_script(project)
    assert done.returncode == 0, done.stderr
    rows = delta_rows_polars(lake / "myjob_pipeline_dataset" / "users", "id")
    assert [(r["id"], r["token_length"]) for r in rows] == [(0, 6), (1, 6), (2, 6)]


@pytest.mark.slow
def test_a_script_with_values_in_environment_variables(project: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    done = run_script(
        project,
        {
            "DESTINATION__FILESYSTEM__BUCKET_URL": str(lake),
            "SOURCES__MYJOB__USERS__PAGE_SIZE": "2",
            "SOURCES__USERS__TOKEN": "xyz",  # dlt's compact layout: sources.<resource name>
        },
    )
    assert done.returncode == 0, done.stderr
    rows = delta_rows_polars(lake / "myjob_pipeline_dataset" / "users", "id")
    assert [(r["id"], r["token_length"]) for r in rows] == [(0, 3), (1, 3)]


@pytest.mark.slow
def test_a_script_missing_a_secret_names_every_key_and_file(project: Path) -> None:
    write(project / ".dlt" / "config.toml", "[sources.myjob.users]\npage_size = 3\n")
    done = run_script(project, {"DESTINATION__FILESYSTEM__BUCKET_URL": "lake"})
    assert done.returncode != 0
    assert "ConfigFieldMissingException" in done.stderr
    for key in (
        "MYJOB_PIPELINE__SOURCES__MYJOB__USERS__TOKEN",
        "SOURCES__MYJOB__USERS__TOKEN",
        "SOURCES__USERS__TOKEN",
        "TOKEN",
        "sources.myjob.users.token",
    ):
        assert key in done.stderr
    assert str(project / ".dlt" / "secrets.toml") in done.stderr
    assert not (project / "pipelines" / "myjob_pipeline" / "extracted").exists() or not any(
        (project / "pipelines" / "myjob_pipeline" / "extracted").iterdir()
    )


# ----------------------------------------------------------------------------- provider order
def test_environment_wins_over_secrets_toml_wins_over_config_toml(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project / ".dlt" / "config.toml", '[sources.shop]\nregion = "from-config"\n')
    write(project / ".dlt" / "secrets.toml", '[sources.shop]\nregion = "from-secrets"\n')
    assert quiver.config["sources.shop.region"] == "from-secrets"
    # Providers come first, paths second: a short env key beats a full TOML key.
    monkeypatch.setenv("REGION", "from-env")
    assert quiver.config["sources.shop.region"] == "from-env"


def test_project_folder_wins_over_global_folder(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path(os.environ["HOME"])
    write(home / ".dlt" / "config.toml", 'shared = "global"\nonly_global = "g"\n')
    write(project / ".dlt" / "config.toml", 'shared = "project"\n')
    assert quiver.config["shared"] == "project"
    assert quiver.config["only_global"] == "g"


def test_project_dir_variables_and_the_quiver_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dlt_project = write(tmp_path / "a" / ".dlt" / "config.toml", 'where = "dlt_project_dir"\n')
    quiver_project = write(tmp_path / "b" / ".dlt" / "config.toml", 'where = "quiver_project"\n')
    monkeypatch.setenv("DLT_PROJECT_DIR", str(dlt_project.parent.parent))
    assert quiver.config["where"] == "dlt_project_dir"
    monkeypatch.setenv("QUIVER_PROJECT_DIR", str(quiver_project.parent.parent))
    assert quiver.config["where"] == "quiver_project"  # QUIVER_PROJECT_DIR wins
    write(quiver_project.parent.parent / ".quiver" / "config.toml", 'where = "dot_quiver"\n')
    assert quiver.config["where"] == "dot_quiver"  # .quiver/ wins over .dlt/ in one folder


def test_section_fallback_drops_the_innermost_section(project: Path) -> None:
    write(project / ".dlt" / "secrets.toml", '[sources]\napi_key = "k-sources"\n')

    @quiver.source(name="notion", section="notion")
    def notion(api_key: str = quiver.secrets.value) -> Any:
        return quiver.resource([{"k": api_key}], name="pages")

    assert list(notion().resources["pages"]) == [{"k": "k-sources"}]
    write(project / ".dlt" / "secrets.toml", '[sources.notion]\napi_key = "k-notion"\n')
    assert list(notion().resources["pages"]) == [{"k": "k-notion"}]


def test_the_pipeline_name_is_an_outer_section(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipelines_dir: str
) -> None:
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(tmp_path / "shared"))
    monkeypatch.setenv("SCOPED__DESTINATION__FILESYSTEM__BUCKET_URL", str(tmp_path / "env"))
    write(
        project / ".dlt" / "config.toml",
        f'[toml_scoped.destination.filesystem]\nbucket_url = "{(tmp_path / "toml").as_posix()}"\n',
    )
    for name, folder in (("scoped", "env"), ("toml_scoped", "toml"), ("other", "shared")):
        pipeline = quiver.pipeline(name, pipelines_dir=pipelines_dir, destination="filesystem")
        pipeline.run([{"a": 1}], table_name="t")
        assert (tmp_path / folder / f"{name}_dataset" / "t" / "_delta_log").is_dir(), name


def test_a_secret_in_config_toml_is_refused(project: Path) -> None:
    write(project / ".dlt" / "config.toml", '[sources]\npassword = "hunter22"\n')
    with pytest.raises(ConfigValueNotSecret, match=r"config\.toml"):
        quiver.secrets["sources.password"]
    assert quiver.config["sources.password"] == "hunter22"  # a config value may be there


# -------------------------------------------------------------------- accessors and injection
def test_accessors_read_typed_toml_values(project: Path) -> None:
    write(
        project / ".dlt" / "config.toml",
        '[sources.api]\npage_size = 50\nenabled = true\nnames = ["a", "b"]\n',
    )
    assert quiver.config["sources.api.page_size"] == 50
    assert quiver.config["sources.api.enabled"] is True
    assert quiver.config.get("sources.api.names") == ["a", "b"]
    assert "sources.api.page_size" in quiver.config
    assert quiver.config.get("sources.api.missing") is None
    with pytest.raises(KeyError):
        quiver.config["sources.api.missing"]


def test_missing_values_of_a_source_are_one_error_raised_when_it_is_created(
    project: Path,
) -> None:
    @quiver.source
    def crm(api_key: str = quiver.secrets.value, base_url: str = quiver.config.value) -> Any:
        return quiver.resource([{"x": 1}], name="contacts")

    with pytest.raises(ConfigFieldMissingException) as raised:
        crm()
    error = raised.value
    assert isinstance(error, KeyError)
    assert error.fields == ["api_key", "base_url"]
    message = str(error)
    assert "SOURCES__TEST_CONFIG_PROVIDERS__CRM__API_KEY" in message
    assert "(secrets.toml, sources.test_config_providers.crm.base_url)" in message
    assert "(config.toml, sources.test_config_providers.crm.base_url)" in message
    # secrets are never looked up in config.toml
    assert "(config.toml, sources.test_config_providers.crm.api_key)" not in message
    assert str(project / ".dlt" / "secrets.toml") in message


def test_credentials_as_a_toml_table_and_as_a_dataclass(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        project / ".dlt" / "secrets.toml",
        """
        [sources.test_config_providers.db.credentials]
        username = "loader"
        password = "pa55word"
        port = 6543
        """,
    )

    @quiver.source
    def db(credentials: DbCredentials = quiver.secrets.value) -> Any:
        return quiver.resource([{"c": credentials}], name="rows")

    @quiver.source
    def db_as_dict(credentials: dict[str, Any] = quiver.secrets.value) -> Any:
        return quiver.resource([{"c": credentials}], name="rows")

    [row] = list(db().resources["rows"])
    assert row["c"] == DbCredentials("loader", "pa55word", 6543)
    # one key per field, in the environment, fills the same dataclass
    monkeypatch.setenv("SOURCES__TEST_CONFIG_PROVIDERS__DB__CREDENTIALS__PORT", "7000")
    write(project / ".dlt" / "secrets.toml", "")
    monkeypatch.setenv("SOURCES__DB__CREDENTIALS__USERNAME", "env-user")
    with pytest.raises(ConfigFieldMissingException) as raised:
        db()
    assert raised.value.fields == ["credentials.password"]
    monkeypatch.setenv("CREDENTIALS__PASSWORD", "env-pass")
    [row] = list(db().resources["rows"])
    assert row["c"] == DbCredentials("env-user", "env-pass", 7000)
    monkeypatch.setenv(
        "SOURCES__TEST_CONFIG_PROVIDERS__DB_AS_DICT__CREDENTIALS", '{"username": "json"}'
    )
    [row] = list(db_as_dict().resources["rows"])
    assert row["c"] == {"username": "json"}


@dataclasses.dataclass
class DbCredentials:
    """A user's credentials class (module level, as annotations are resolved by name)."""

    username: str
    password: str
    port: int = 5432


# ------------------------------------------------------------------------- destinations
def test_a_named_destination(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipelines_dir: str
) -> None:
    monkeypatch.setenv("DESTINATION__MY_LAKE__DESTINATION_TYPE", "filesystem")
    monkeypatch.setenv("DESTINATION__MY_LAKE__BUCKET_URL", str(tmp_path / "my_lake"))
    pipeline = quiver.pipeline("named", pipelines_dir=pipelines_dir, destination="my_lake")
    info = pipeline.run([{"a": 1}], table_name="t")
    assert info is not None and info.destination_name == "my_lake"
    assert (tmp_path / "my_lake" / "named_dataset" / "t" / "_delta_log").is_dir()


def test_s3_credentials_from_secrets_toml(
    project: Path,
    s3_bucket: str,
    s3_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    pipelines_dir: str,
) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_ACCESS", "AWS_SECRET", "DESTINATION__FILESYSTEM__CREDENTIALS")):
            monkeypatch.delenv(name)
    write(
        project / ".dlt" / "secrets.toml",
        f"""
        [destination.filesystem]
        bucket_url = "{s3_bucket}/lake"

        [destination.filesystem.credentials]
        aws_access_key_id = "{s3_server.access_key}"
        aws_secret_access_key = "{s3_server.secret_key}"
        endpoint_url = "{s3_server.endpoint_url}"
        """,
    )
    pipeline = quiver.pipeline("tomls3", pipelines_dir=pipelines_dir, destination="filesystem")
    info = pipeline.run([{"a": 1}, {"a": 2}], table_name="t")
    assert info is not None and not info.has_failed_jobs
    rows = pipeline.dataset().t.arrow().to_pylist()
    assert sorted(r["a"] for r in rows) == [1, 2]
