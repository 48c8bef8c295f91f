"""dlt's naming conventions other than snake_case (issue 13, bullet 6: the conventions).

Expected names follow dlt's documentation (general-usage/naming-convention.md: ``direct``
"case sensitive ... only minimal changes", ``sql_ci_v1``/``sql_cs_v1`` SQL-safe, ``duck_case``
keeps Unicode) and the rules of dlt's modules ``dlt/common/normalizers/naming/{direct,
sql_cs_v1,sql_ci_v1,duck_case}.py``, read as facts; then each one through the pipeline
(``SCHEMA__NAMING``) on Delta and Iceberg (docs/decisions.md lists the differences from dlt).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from quiver.errors import InvalidIdentifier
from quiver.schema.naming import SnakeCaseNaming, shorten_identifier
from quiver.schema.naming_conventions import naming_convention
from tests.readers import Lake, delta_rows_deltalake

CASES = {
    "direct": [
        ("MyCamelCase", "MyCamelCase"),
        ("  spaced name  ", "spaced name"),
        ("a\"b'c\nd\re", "a_b_c_d_e"),
        ("a▶b", "a_b"),
        ("Ünïcode+-*@|", "Ünïcode+-*@|"),
    ],
    "sql_cs_v1": [
        ("MyCamelCase", "MyCamelCase"),
        ("event value!", "event_value"),
        ("a+b@c", "a_b_c"),
        ("123abc", "_123abc"),
        ("trailing___", "trailing"),
        ("_", "_"),
        ("Ünïcode", "_n_code"),
    ],
    "sql_ci_v1": [
        ("MyCamelCase", "mycamelcase"),
        ("Event Value!", "event_value"),
        ("123ABC", "_123abc"),
    ],
    "duck_case": [
        ("MyCamelCase", "MyCamelCase"),
        ("Ünïcode name", "Ünïcode name"),
        ('a"b\nc', "a_b_c"),
        ("a___b", "a_b"),
    ],
}


@pytest.mark.parametrize(
    ("convention", "name", "expected"),
    [(c, n, e) for c, cases in CASES.items() for n, e in cases],
)
def test_identifiers(convention: str, name: str, expected: str) -> None:
    assert naming_convention(convention).normalize_identifier(name) == expected


def test_snake_case_by_name_is_the_default_convention() -> None:
    assert naming_convention("snake_case") == SnakeCaseNaming()
    assert naming_convention("snake_case").normalize_identifier("MyCamelCaseName") == (
        "my_camel_case_name"
    )


def test_paths_use_the_convention_separator() -> None:
    direct = naming_convention("direct")
    assert direct.make_path("orders", "Items") == "orders▶Items"
    assert direct.normalize_path("orders▶It'ems") == "orders▶It_ems"
    assert direct.break_path("a▶▶b") == ["a", "b"]
    assert naming_convention("sql_ci_v1").normalize_path("Orders__Line Items") == (
        "orders__line_items"
    )
    # duck_case contracts "__" inside a name, so a path's separators survive only as paths
    assert naming_convention("duck_case").normalize_path("A__B") == "A__B"


@pytest.mark.parametrize("convention", sorted(CASES))
def test_long_names_are_shortened_with_dlt_tag(convention: str) -> None:
    naming = naming_convention(convention, max_length=10)
    long_name = "a" * 30
    assert naming.normalize_identifier(long_name) == shorten_identifier(long_name, long_name, 10)
    with pytest.raises(InvalidIdentifier):
        naming.normalize_identifier("   ")


def test_a_user_convention_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """naming-convention.md "Write your own naming convention": a module with a class
    ``NamingConvention``, chosen by its dotted path."""
    package = tmp_path / "my_naming_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "upper.py").write_text(
        "from quiver.schema.naming_conventions import BaseNaming\n"
        "class NamingConvention(BaseNaming):\n"
        "    def _normalize(self, stripped):\n"
        "        return stripped.upper().replace(' ', '_')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        naming = naming_convention("my_naming_pkg.upper")
        assert naming.normalize_identifier("my table") == "MY_TABLE"
        assert naming.normalize_path("a b__c") == "A_B__C"
    finally:
        for module in ("my_naming_pkg", "my_naming_pkg.upper"):
            sys.modules.pop(module, None)


def test_unknown_conventions_are_refused_with_the_closest_name() -> None:
    with pytest.raises(InvalidIdentifier, match="Did you mean 'sql_ci_v1'"):
        naming_convention("sql_ci")
    with pytest.raises(InvalidIdentifier, match="cannot be imported"):
        naming_convention("no_such_package.naming")
    with pytest.raises(InvalidIdentifier, match="no class NamingConvention"):
        naming_convention("json.decoder")


# ------------------------------------------------------------------ through the pipeline
# dlt's naming-convention.md: "Set an environment variable SCHEMA__NAMING"; names follow the rules
# of each convention (above); nested tables and flattened columns join with the convention's
# path separator ("__", "▶" for direct), and so do variant columns (dlt names them with
# ``shorten_fragments(column, "v_<type>")``). The dataset name goes through the convention's
# ``normalize_table_identifier`` (dlt's ``normalize_dataset_name``).

#: convention -> (dataset, table, {source key: column}, child table, child column, variant)
PIPELINE_NAMES: dict[str, tuple[str, str, dict[str, str], str, str, str]] = {
    "snake_case": (
        "my_camel_case_name",
        "my_events",
        {"UserId": "user_id", "Event-Name": "event_name", "Nested": "nested__inner_value"},
        "my_events__tags",
        "tag_name",
        "amount__v_text",
    ),
    "direct": (
        "MyCamelCaseName",
        "MyEvents",
        {"UserId": "UserId", "Event-Name": "Event-Name", "Nested": "Nested▶InnerValue"},
        "MyEvents▶Tags",
        "TagName",
        "Amount▶v_text",
    ),
    "sql_cs_v1": (
        "MyCamelCaseName",
        "MyEvents",
        {"UserId": "UserId", "Event-Name": "Event_Name", "Nested": "Nested__InnerValue"},
        "MyEvents__Tags",
        "TagName",
        "Amount__v_text",
    ),
    "sql_ci_v1": (
        "mycamelcasename",
        "myevents",
        {"UserId": "userid", "Event-Name": "event_name", "Nested": "nested__innervalue"},
        "myevents__tags",
        "tagname",
        "amount__v_text",
    ),
    "duck_case": (
        "MyCamelCaseName",
        "MyEvents",
        {"UserId": "UserId", "Event-Name": "Event-Name", "Nested": "Nested__InnerValue"},
        "MyEvents__Tags",
        "TagName",
        "Amount__v_text",
    ),
}

_EVENTS = [
    {"UserId": 1, "Event-Name": "Signup", "Nested": {"InnerValue": 10}, "Amount": 5,
     "Tags": [{"TagName": "a"}, {"TagName": "b"}]},
    {"UserId": 2, "Event-Name": "Login", "Nested": {"InnerValue": 20}, "Amount": "lots",
     "Tags": []},
]  # fmt: skip


def _run_events(table_format: str, pipelines_dir: str, bucket: Path, name: str) -> Any:
    import quiver

    pipeline = quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(
            bucket_url=f"file://{bucket}", table_format=table_format
        ),
        dataset_name="MyCamelCaseName",
    )
    pipeline.run(_EVENTS, table_name="MyEvents")
    return pipeline


def _rows(table_format: str, bucket: Path, dataset: str, table: str, sort_by: str) -> Any:
    """Rows read by delta-rs' own engine (polars cannot open a Delta table whose folder name
    has non-ASCII characters such as ``▶``: it percent-encodes the file paths) or pyiceberg."""
    if table_format == "delta":
        return delta_rows_deltalake(bucket / dataset / table, sort_by)
    return Lake(table_format, "local", f"file://{bucket}").rows(dataset, table, sort_by)


@pytest.mark.slow
@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
@pytest.mark.parametrize("convention", sorted(PIPELINE_NAMES))
def test_each_convention_names_dataset_tables_and_columns(
    convention: str,
    table_format: str,
    pipelines_dir: str,
    bucket: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCHEMA__NAMING", convention)
    dataset, table, columns, child, child_column, variant = PIPELINE_NAMES[convention]
    pipeline = _run_events(table_format, pipelines_dir, bucket, f"naming_{table_format}")
    assert pipeline.dataset_name == dataset
    assert sorted(p.name for p in (bucket / dataset).iterdir() if not p.name.startswith("_dlt")) \
        == sorted([table, child])  # fmt: skip
    user_id = columns["UserId"]
    rows = _rows(table_format, bucket, dataset, table, user_id)
    assert [r[user_id] for r in rows] == [1, 2]
    assert [r[columns["Event-Name"]] for r in rows] == ["Signup", "Login"]
    assert [r[columns["Nested"]] for r in rows] == [10, 20]
    amount = "amount" if convention in ("snake_case", "sql_ci_v1") else "Amount"
    assert [(r[amount], r[variant]) for r in rows] == [(5, None), (None, "lots")]
    tags = _rows(table_format, bucket, dataset, child, child_column)
    assert [r[child_column] for r in tags] == ["a", "b"]
    # the schema keeps its convention (dlt's normalizers.names)
    assert pipeline.default_schema.normalizers["names"] == convention


@pytest.mark.slow
def test_a_user_convention_module_through_the_pipeline(
    tmp_path: Path, pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """naming-convention.md "Write your own naming convention": SCHEMA__NAMING names a module
    on sys.path with a class NamingConvention."""
    package = tmp_path / "shop_naming"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "lower_dash.py").write_text(
        "from quiver.schema.naming_conventions import BaseNaming\n"
        "class NamingConvention(BaseNaming):\n"
        "    def _normalize(self, stripped):\n"
        "        return stripped.lower().replace(' ', '-')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SCHEMA__NAMING", "shop_naming.lower_dash")
    try:
        pipeline = _run_events("delta", pipelines_dir, bucket, "naming_user")
        assert pipeline.dataset_name == "mycamelcasename"
        rows = Lake("delta", "local", f"file://{bucket}").rows(
            "mycamelcasename", "myevents", "userid"
        )
        assert [r["event-name"] for r in rows] == ["Signup", "Login"]
        assert [r["nested__innervalue"] for r in rows] == [10, 20]
        assert pipeline.default_schema.normalizers["names"] == "shop_naming.lower_dash"
    finally:
        for module in ("shop_naming", "shop_naming.lower_dash"):
            sys.modules.pop(module, None)


def test_a_schema_keeps_its_convention(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """naming-convention.md: "Schemas preserve the naming convention when saved": a later run
    without SCHEMA__NAMING keeps using it."""
    monkeypatch.setenv("SCHEMA__NAMING", "direct")
    _run_events("delta", pipelines_dir, bucket, "naming_keep")
    monkeypatch.delenv("SCHEMA__NAMING")
    pipeline = _run_events("delta", pipelines_dir, bucket, "naming_keep")
    assert pipeline.dataset_name == "MyCamelCaseName"
    assert "MyEvents" in pipeline.default_schema.tables
    rows = Lake("delta", "local", f"file://{bucket}").rows("MyCamelCaseName", "MyEvents", "UserId")
    assert [r["UserId"] for r in rows] == [1, 1, 2, 2]


def test_changing_the_convention_of_a_loaded_schema_is_refused(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """naming-convention.md: "If you change the naming convention and dlt detects a change in
    the destination identifiers for tables ... that already exist and store data, the normalize
    process will fail"; dlt raises TableIdentifiersFrozen."""
    from quiver.common.schema.exceptions import TableIdentifiersFrozen
    from quiver.pipeline.exceptions import PipelineStepFailed

    _run_events("delta", pipelines_dir, bucket, "naming_change")
    monkeypatch.setenv("SCHEMA__NAMING", "direct")
    with pytest.raises(PipelineStepFailed) as failed:
        _run_events("delta", pipelines_dir, bucket, "naming_change")
    cause = failed.value.__cause__
    assert isinstance(cause, TableIdentifiersFrozen)
    message = str(cause)
    assert "'snake_case'" in message and "'direct'" in message and "my_events" in message


def test_an_unknown_configured_convention_is_refused(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEMA__NAMING", "snake_cases")
    with pytest.raises(InvalidIdentifier, match="snake_case"):
        _run_events("delta", pipelines_dir, bucket, "naming_unknown")
