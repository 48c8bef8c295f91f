"""docs/configuration.md lists every key quiver reads, and cannot drift from the code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from quiver.settings_catalog import OTHER_KEYS, SECTIONS, describe

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "quiver"
PAGE = ROOT / "docs" / "configuration.md"
#: Where keys are read generically (the lookup machinery and the settings classes themselves).
GENERIC = {"quiver.settings"}


def test_the_page_is_generated_from_the_code() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_setting_and_other_key_is_on_the_page() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for cls in SECTIONS:
        for info in describe(cls):
            if info.key is not None:
                assert f"`{info.key}`" in page and f"`{info.env}`" in page
    for other in OTHER_KEYS:
        assert f"`{other.env}`" in page


#: The functions of quiver.configuration.lookup that read a value.
READERS = {"lookup", "lookup_exact", "find", "get", "resolve"}


def _reads_configuration(tree: ast.Module) -> bool:
    """Calls a reading function of the lookup module, or reads ``os.environ``/``os.getenv``."""
    module_aliases = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "quiver.configuration.lookup"
            and any(alias.name in READERS for alias in node.names)
        ):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "quiver.configuration":
            module_aliases |= {a.asname or a.name for a in node.names if a.name == "lookup"}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not isinstance(node.value, ast.Name):
            continue
        if node.value.id in module_aliases and node.attr in READERS:
            return True
        if node.value.id == "os" and node.attr in ("environ", "getenv"):
            return True
    return False


def _modules_reading_configuration() -> set[str]:
    found = set()
    for path in SRC.rglob("*.py"):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        if module == "quiver.configuration.lookup":
            continue  # the lookup machinery itself
        if _reads_configuration(ast.parse(path.read_text(encoding="utf-8"))):
            found.add(module)
    return found


def test_every_module_that_reads_configuration_is_documented() -> None:
    documented = {other.read_in for other in OTHER_KEYS} | GENERIC
    readers = _modules_reading_configuration()
    undocumented = sorted(readers - documented)
    assert not undocumented, (
        f"{undocumented} read configuration keys that are not listed: add them to "
        "quiver.settings (a settings class) or quiver.settings_catalog (OTHER_KEYS) and run scripts/gen_config_docs.py"
    )
    stale = sorted({other.read_in for other in OTHER_KEYS} - readers)
    assert not stale, f"OTHER_KEYS names modules that read no configuration: {stale}"
