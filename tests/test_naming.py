"""The snake_case naming convention must match dlt's character for character.

Expected values in the ``DLT_*`` tests are copied from dlt's own suite
(``tests/common/normalizers/test_naming_snake_case.py`` and ``test_naming.py``), which is the ground
truth; the rest are properties dlt guarantees or quiver adds.
"""

from __future__ import annotations

import doctest
import re
import string
from types import ModuleType

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quiver.schema import naming as naming_module
from quiver.schema.naming import (
    PATH_SEPARATOR,
    TAG_LENGTH,
    SnakeCaseNaming,
    default_schema_name,
    shorten_identifier,
)

# Fixtures shared with dlt's tests/common/normalizers/test_naming.py.
LONG_PATH = (
    "prospects_external_data__data365_member__member__feed_activities_created_post__items"
    "__comments__items__comments__items__author_details__educations"
)
DENSE_PATH = "__".join(string.ascii_lowercase)
LONG_IDENT = 10 * string.printable
IDENT_20_CHARS = "she played cello well"
RAW_IDENT = ".\n'played CELLO🚧_"
RAW_IDENT_W_SPACES = f"  {RAW_IDENT} \t\n"
RAW_IDENT_2 = '123."\rhello😄!'
RAW_IDENT_2_W_SPACES = f"\n  {RAW_IDENT_2} \t "
RAW_PATH = [RAW_IDENT, RAW_IDENT_2_W_SPACES, RAW_IDENT_2, RAW_IDENT_2_W_SPACES]
EMPTY_IDENT = "   \t\n "
RAW_PATH_WITH_EMPTY_IDENT = [
    RAW_IDENT,
    RAW_IDENT_2_W_SPACES,
    EMPTY_IDENT,
    RAW_IDENT_2,
    RAW_IDENT_2_W_SPACES,
]

# What a normalized name may consist of. `\d` is Unicode-aware on purpose: dlt keeps non-ASCII
# decimal digits (e.g. Arabic-Indic) and only prefixes them with "_" when leading.
SNAKE_IDENTIFIER = re.compile(r"(?!\d)[a-z\d_]+")


@pytest.fixture
def unlimited() -> SnakeCaseNaming:
    return SnakeCaseNaming()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # dlt: test_normalize_identifier
        ("event_value", "event_value"),
        ("event value", "event_value"),
        ("event-.!:*<>value", "event_x_value"),
        ("1event_n'", "_1event_nx"),
        ("123event_n'", "_123event_nx"),
        ("123BaNaNa", "_123_ba_na_na"),
        ("BANANA", "banana"),
        ("BAN_ANA", "ban_ana"),
        ("BANaNA", "ba_na_na"),
        ("Small Love Potion", "small_love_potion"),
        (" Small Love Potion ", "small_love_potion"),
        ("BANANA_", "bananax"),
        ("BANANA____", "bananaxxxx"),
        ("+-!$*@#=|:", "x_xa_lx"),
        ("+1", "x1"),
        ("-1", "_1"),
        # dlt: test_alphabet_reduction (`_REDUCE_ALPHABET`)
        ("+-*@|", "x_xal"),
        # dlt: test_normalizes_underscores
        ("event__value_value2____", "event_value_value2xxxx"),
        # DLT_BEHAVIOUR §4.1 (observed with dlt)
        ("CamelCase", "camel_case"),
        ("HTTPRequest", "http_request"),
        ("📆 Schedule", "_schedule"),
        ("ÄÖÜ", "x"),
    ],
)
def test_dlt_normalize_identifier(unlimited: SnakeCaseNaming, raw: str, expected: str) -> None:
    assert unlimited.normalize_identifier(raw) == expected
    assert unlimited.normalize_table_identifier(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # dlt: test_normalize_path
        ("small_love_potion", "small_love_potion"),
        ("small__love__potion", "small__love__potion"),
        ("Small_Love_Potion", "small_love_potion"),
        ("Small__Love__Potion", "small__love__potion"),
        ("Small Love Potion", "small_love_potion"),
        ("Small  Love  Potion", "small_love_potion"),
        # blank parts from break_path are dropped, so extra underscores contract
        ("Small___Love____Potion_____x", "small___love__potion___x"),
        ("small___love__potion___x", "small___love__potion___x"),
        # dlt: test_normalizes_underscores
        ("e_vent__value_value2___", "e_vent__value_value2__x"),
    ],
)
def test_dlt_normalize_path(unlimited: SnakeCaseNaming, raw: str, expected: str) -> None:
    assert unlimited.normalize_path(raw) == expected


def test_dlt_break_path(unlimited: SnakeCaseNaming) -> None:
    assert unlimited.break_path("A__B__C") == ["A", "B", "C"]
    # "_a" and "_b" are valid normalized names: the separator is taken from the left
    assert unlimited.break_path("_a___b__C___D") == ["_a", "_b", "C", "_D"]
    assert unlimited.break_path("_a_____b") == ["_a", "_b"]
    assert unlimited.break_path("_a____b") == ["_a", "b"]
    assert unlimited.break_path("_a__  \t\r__b") == ["_a", "b"]


def test_dlt_make_path(unlimited: SnakeCaseNaming) -> None:
    assert unlimited.make_path("A", "B") == "A__B"
    assert unlimited.make_path("_A", "_B") == "_A___B"
    assert unlimited.make_path("_A", "", "_B") == "_A___B"
    assert unlimited.make_path("_A", "\t\n ", "_B") == "_A___B"
    assert PATH_SEPARATOR == "__"


# dlt: test_tag_generation. With max_length == TAG_LENGTH nothing but the tag is left.
@pytest.mark.parametrize(
    ("content", "expected_tag"),
    [
        ("3f17271231504b8cf65690bcdc379df8a3b8aabe12efe1ea82848ec5f497cb69", "gds0iw"),
        ("58e5c351b53ffe1233e0656a532a721ae1d2ac7af71b6cfec8ceb64c63b10721", "uyboiq"),
        ("e3f34629839cedcabba95354e48a78dc80b0cd35c02ddfbbf20196ba7f968866", "51wdcg"),
        ("f0f22b8e8c58389a6c21dbcc1e261ee0354704e24996a0ec541276f58d1f2f52", "bpm7ca"),
        ("0d0de95c7c12ceee919d28d22c970285d80a36dea4fe32dbdd667a888ae6d47f", "doqcuq"),
        ("4973509ea648ddfbaf6c50e1fef33c3b0a3d1c1a82dff543a8255e60b6572567", "cl7rpq"),
        ("877c89f0dcbd24b8c3f787624ddca09deb6a44e4a72f12527209d78e4d9ed247", "xrnycg"),
        ("064df58cd3a51c50dbf30e975e63961a501212ff8e8ca544ab396727f4b8a367", "kgiizq"),
        ("c8f7da1b5c44c1ca10da67c1514c4cf365e4d5912685b25a39206d5c8c1966a1", "dj9zqq"),
        ("222d42333592ea87823fd2e7868d59fb0aded20603f433319691918299513cb6", "futp4w"),
        ("757d64eb242a91b494ec9e2661a7946410d68144d33860d6f4154092d65d5009", "wetlpg"),
        ("3c7348d43478292b4c4e0689d41a536fc8ccabdbd9fb9d0dfbe757a83d34cebe", "avxagg"),
        ("6896fac1546c201d4dc91d2c51bdcd9c820fe92fd0555947e59fdc89ca6f045d", "wbaj3w"),
        ("b4def322a4487dd90fcc4abd2f1efde0cdce81d8e0a580fd1897203ab4ebcebe", "whojmw"),
        ("07d974124b92adafc90473a3968ceb5e8329d815e0e48260473d70a781adb8ae", "aiqcea"),
        ("c67183a762e379290652cc26a786b21eff347643b1cc9012138f460901ce5d53", "zfztpg"),
        ("430976db5adef67d0009aa3cd9a2daca106829b36a7232732c5d694e7197c6d1", "evr7rq"),
        ("c1c8c0ff6933fa4e23fab5605139124b2c6cda0150a412daaea274818ee46e35", "er0nxq"),
        ("0060c538b6ce02b8d8e2c85b4e2810c58b846f4096ed7ab871fc092c45ac09d9", "zh9xgg"),
        ("4d4b99ff5d2a3d5cd076782c9cd088cd85d5c789d7de6bdc19c1d206b687d485", "2vvr5a"),
    ],
)
def test_dlt_tag_generation(content: str, expected_tag: str) -> None:
    assert TAG_LENGTH == 6
    assert shorten_identifier(content, content, TAG_LENGTH) == expected_tag
    # a pure content hash: the normalized text plays no part
    assert shorten_identifier("x" * 100, content, TAG_LENGTH) == expected_tag


def _tag(original: str) -> str:
    return shorten_identifier("x" * (TAG_LENGTH + 1), original, TAG_LENGTH)


def test_dlt_tag_placement() -> None:
    # dlt: test_tag_placement, which calls the private trim step with the tag "123456"; here the
    # real tag of a fixture string, and only names longer than the limit (shorter ones are kept)
    original = "3f17271231504b8cf65690bcdc379df8a3b8aabe12efe1ea82848ec5f497cb69"
    tag = _tag(original)
    assert shorten_identifier("prefDLTHUBsuf", original, 6) == tag
    # an odd remainder goes to the head
    assert shorten_identifier("DLT_HUB_", original, 7) == "D" + tag
    assert shorten_identifier("prefDLT_HUBsuf", original, 7) == "p" + tag
    assert shorten_identifier("DLT_HUB__", original, 8) == "D" + tag + "_"
    assert shorten_identifier("prefDLT_HUB_suf", original, 8) == "p" + tag + "f"
    # nothing to shorten
    assert shorten_identifier("DLT", original, 100) == "DLT"
    with pytest.raises(ValueError, match="at least 6"):
        shorten_identifier("xDLTHUBx", original, 5)


def test_dlt_shorten_identifier() -> None:
    long_ident = 8 * LONG_PATH
    assert shorten_identifier(long_ident, long_ident, None) == long_ident
    assert shorten_identifier("012345678", "xxx012345678xxx", 10) == "012345678"
    assert shorten_identifier("0123456789", "xxx012345678xx?", 10) == "0123456789"
    shortened = shorten_identifier(IDENT_20_CHARS, IDENT_20_CHARS, 20)
    assert shortened == "she plauanpualo well"
    assert _tag(IDENT_20_CHARS) in shortened
    # the tag hashes the raw name, surrounding spaces included
    for raw in ["a3f9c2d1e0", " a3f9c2d1e0 "]:
        shortened = shorten_identifier(IDENT_20_CHARS, raw, 20)
        assert _tag(raw) in shortened
        assert len(shortened) == 20
    assert SnakeCaseNaming.shorten_identifier(IDENT_20_CHARS, IDENT_20_CHARS, 20) == (
        "she plauanpualo well"
    )


def test_shortened_identifier_observed_in_dlt() -> None:
    assert SnakeCaseNaming(10).normalize_identifier("a_very_long_identifier_name") == "a_ebfjtgme"


def test_dlt_normalize_with_shorten_identifier(unlimited: SnakeCaseNaming) -> None:
    with pytest.raises(ValueError, match="None"):
        unlimited.normalize_identifier(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty or only whitespace"):
        unlimited.normalize_identifier(EMPTY_IDENT)
    assert unlimited.normalize_identifier(RAW_IDENT) != RAW_IDENT
    assert unlimited.normalize_identifier(RAW_IDENT) == unlimited.normalize_identifier(
        RAW_IDENT_W_SPACES
    )

    short = SnakeCaseNaming(len(RAW_IDENT) // 2)
    # the tag hashes the stripped name, so surrounding whitespace does not change it
    assert short.normalize_identifier(RAW_IDENT) == short.normalize_identifier(RAW_IDENT_W_SPACES)
    assert _tag(RAW_IDENT) in short.normalize_identifier(RAW_IDENT)


@pytest.mark.parametrize("name", ["", " ", "\t\n", "\u00a0"])
def test_empty_identifier_raises(unlimited: SnakeCaseNaming, name: str) -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        unlimited.normalize_identifier(name)
    with pytest.raises(ValueError, match="non-empty name"):
        unlimited.normalize_table_identifier(name)


@pytest.mark.parametrize("path", ["", "  ", "__", "____", " __ \t__"])
def test_empty_path_raises(unlimited: SnakeCaseNaming, path: str) -> None:
    # dlt returns "" here; quiver refuses to produce an empty table or column name
    with pytest.raises(ValueError, match="non-blank part"):
        unlimited.normalize_path(path)


def _assert_short_path(norm_path: str, naming: SnakeCaseNaming) -> None:
    assert naming.max_length is not None
    assert len(norm_path) == naming.max_length
    assert naming.normalize_path(norm_path) == norm_path
    assert all(len(part) <= naming.max_length for part in naming.break_path(norm_path))


def test_dlt_normalize_path_shortening() -> None:
    path = SnakeCaseNaming().make_path(*LONG_PATH.split("__"))
    assert SnakeCaseNaming().normalize_path(path) == path
    _assert_short_path(SnakeCaseNaming(64).normalize_path(path), SnakeCaseNaming(64))
    _assert_short_path(SnakeCaseNaming(127).normalize_path(path), SnakeCaseNaming(127))

    for fixture in (path, DENSE_PATH):
        for max_length in range(len(fixture) // 2, int(len(fixture) * 1.1)):
            naming = SnakeCaseNaming(max_length)
            norm_path = naming.normalize_path(fixture)
            if max_length >= len(fixture):
                assert norm_path == fixture
            else:
                _assert_short_path(norm_path, naming)

    # a long name without separators is shortened to one part
    naming = SnakeCaseNaming(16)
    norm_path = naming.normalize_path(LONG_IDENT)
    assert len(norm_path) == 16
    assert len(naming.break_path(norm_path)) == 1


def test_dlt_normalize_raw_path(unlimited: SnakeCaseNaming) -> None:
    raw_path = unlimited.make_path(*RAW_PATH)
    assert PATH_SEPARATOR in raw_path
    norm_path = unlimited.normalize_path(raw_path)
    assert len(unlimited.break_path(norm_path)) == len(RAW_PATH)
    assert unlimited.normalize_path(norm_path) == norm_path
    # blank parts are skipped when building a path
    assert unlimited.make_path(*RAW_PATH_WITH_EMPTY_IDENT) == raw_path

    # parts fit but the whole path does not: one tag, hashed from the raw path
    naming = SnakeCaseNaming(len(RAW_IDENT) * 2)
    tagged = naming.normalize_path(raw_path)
    assert _tag(raw_path) in tagged
    assert naming.normalize_path(tagged) == tagged
    assert naming.normalize_path(naming.normalize_path(tagged)) == tagged
    assert tagged == naming.make_path(*naming.break_path(tagged))

    # parts are cut too, and the path tag still comes from the raw path
    naming = SnakeCaseNaming(len(RAW_IDENT) - 4)
    assert _tag(raw_path) in naming.normalize_path(raw_path)


@pytest.mark.parametrize("max_length", [-1, 0, 1, TAG_LENGTH - 1])
def test_max_length_too_small(max_length: int) -> None:
    with pytest.raises(ValueError, match="too small"):
        SnakeCaseNaming(max_length)


def test_naming_is_frozen() -> None:
    naming = SnakeCaseNaming(10)
    with pytest.raises(AttributeError):
        naming.max_length = 20  # type: ignore[misc]
    assert naming == SnakeCaseNaming(10)


@pytest.mark.parametrize(
    ("pipeline_name", "expected"),
    [
        ("exp_pipeline", "exp"),
        ("exp", "exp"),
        ("Chess Games", "chess_games"),
        ("chess_pipeline_pipeline", "chess_pipeline"),
        ("1_pipeline", "_1"),
        ("pipeline", "pipeline"),
    ],
)
def test_default_schema_name(pipeline_name: str, expected: str) -> None:
    assert default_schema_name(pipeline_name) == expected


def test_default_schema_name_is_capped_at_64() -> None:
    name = default_schema_name("x" * 100 + "_pipeline")
    assert len(name) == 64
    assert name.startswith("x" * 29)
    assert name.endswith("x" * 29)


def test_default_schema_name_empty_raises() -> None:
    with pytest.raises(ValueError, match="schema name explicitly"):
        default_schema_name("_pipeline")


def test_normalization_is_cached() -> None:
    # called once per distinct column name: the second call must not redo the work
    name = "CachedCamelColumn-Name"
    naming = SnakeCaseNaming(32)
    naming.normalize_identifier(name)
    naming.normalize_path(name)
    id_hits = naming_module._normalize_identifier.cache_info().hits
    path_hits = naming_module._normalize_path.cache_info().hits
    assert naming.normalize_identifier(name) == "cached_camel_column_name"
    assert naming.normalize_path(name) == "cached_camel_column_name"
    assert naming_module._normalize_identifier.cache_info().hits == id_hits + 1
    assert naming_module._normalize_path.cache_info().hits == path_hits + 1
    assert naming_module._normalize_identifier.cache_info().maxsize == 100_000


def test_docstring_examples_run() -> None:
    result = doctest.testmod(naming_module, raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0


# --- properties -------------------------------------------------------------------------------

# Bias generated names towards the characters the rules treat specially, then add anything.
_SPECIAL = "aZzA09_ -+*@|.:'\"\t\nÄß📆٣"
names = st.text(
    alphabet=st.one_of(st.sampled_from(_SPECIAL), st.characters()), min_size=1, max_size=40
).filter(lambda s: bool(s.strip()))
# Below 8 the result may be the bare tag, which can start with a digit (as in dlt).
max_lengths = st.one_of(st.none(), st.integers(min_value=8, max_value=64))


@settings(max_examples=500)
@given(name=names, max_length=max_lengths)
def test_identifier_properties(name: str, max_length: int | None) -> None:
    naming = SnakeCaseNaming(max_length)
    normalized = naming.normalize_identifier(name)
    assert SNAKE_IDENTIFIER.fullmatch(normalized), normalized
    assert not normalized.endswith("_")
    assert "__" not in normalized
    if max_length is not None:
        assert len(normalized) <= max_length
    assert naming.normalize_identifier(normalized) == normalized
    # a normalized name is a one-part path that normalize_path leaves alone
    assert naming.break_path(normalized) == [normalized]
    assert naming.normalize_path(normalized) == normalized


@settings(max_examples=300)
@given(parts=st.lists(names, min_size=1, max_size=5))
def test_path_properties(parts: list[str]) -> None:
    naming = SnakeCaseNaming()
    raw = PATH_SEPARATOR.join(parts)
    # a path of nothing but separators ("__") is rejected: see test_empty_path_raises
    assume(naming.break_path(raw))
    path = naming.normalize_path(raw)
    assert naming.normalize_path(path) == path
    assert naming.make_path(*naming.break_path(path)) == path
    for part in naming.break_path(path):
        assert naming.normalize_identifier(part) == part
    # separators inside a part survive, one per boundary between non-blank parts
    assert naming.break_path(path) == [
        naming.normalize_identifier(p) for p in naming.break_path(raw)
    ]


@pytest.fixture(scope="module")
def dlt_snake_case() -> ModuleType:
    # dlt comes with the `bench` extra only; imported once, outside the timed hypothesis examples
    module: ModuleType = pytest.importorskip("dlt.common.normalizers.naming.snake_case")
    return module


@settings(max_examples=300)
@given(name=names, max_length=st.one_of(st.none(), st.integers(min_value=TAG_LENGTH, max_value=40)))
def test_same_as_dlt(dlt_snake_case: ModuleType, name: str, max_length: int | None) -> None:
    # a direct comparison with the reference implementation, where it is installed
    dlt_naming = dlt_snake_case.NamingConvention(max_length)
    naming = SnakeCaseNaming(max_length)
    assert naming.normalize_identifier(name) == dlt_naming.normalize_identifier(name)
    assert naming.break_path(name) == list(dlt_naming.break_path(name))
    if naming.break_path(name):
        assert naming.normalize_path(name) == dlt_naming.normalize_path(name)
