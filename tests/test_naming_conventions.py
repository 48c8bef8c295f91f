"""dlt's naming conventions other than snake_case (issue 13, bullet 6: the conventions).

Expected names follow dlt's documentation (general-usage/naming-convention.md: ``direct``
"case sensitive ... only minimal changes", ``sql_ci_v1``/``sql_cs_v1`` SQL-safe, ``duck_case``
keeps Unicode) and the rules of dlt's modules ``dlt/common/normalizers/naming/{direct,
sql_cs_v1,sql_ci_v1,duck_case}.py``, read as facts. The pipeline does not use them yet
(docs/decisions.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from quiver.errors import InvalidIdentifier
from quiver.schema.naming import SnakeCaseNaming, shorten_identifier
from quiver.schema.naming_conventions import naming_convention

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
