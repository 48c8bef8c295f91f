"""An incremental argument configured from config: ``sources.<section>.<resource>.<arg>``.

dlt resolves an incremental argument as a configuration object, so its fields can come from
config (docs: "Reading incremental loading parameters from configuration")::

    [sources.id_after]              # or [sources.<section>.<resource>.id_after]
    cursor_path = "idAfter"
    initial_value = 10

quiver reads the same keys through :mod:`quiver.configuration.lookup` (environment variables
such as ``SOURCES__ID_AFTER__CURSOR_PATH``, and any provider plugged in there), most specific
path first: ``sources.<section>.<resource>.<arg>``, ``sources.<section>.<arg>``,
``sources.<arg>``. A configured field overrides the one in the argument's default.
"""

from __future__ import annotations

import json
from typing import Any

from quiver.configuration import lookup as config_lookup
from quiver.extract.incremental import Incremental

#: The fields of an incremental that config may set (``last_value_func`` as "max"/"min").
CONFIGURABLE_FIELDS = (
    "cursor_path",
    "initial_value",
    "end_value",
    "last_value_func",
    "primary_key",
    "row_order",
    "on_cursor_value_missing",
    "lag",
    "range_start",
    "range_end",
)
#: Fields kept as text even when the text reads as JSON (a cursor path "1" is a name).
_TEXT_FIELDS = frozenset(
    {
        "cursor_path",
        "last_value_func",
        "row_order",
        "on_cursor_value_missing",
        "range_start",
        "range_end",
    }
)


def configured_fields(section: str | None, resource_name: str, argument: str) -> dict[str, Any]:
    """The incremental fields configured for ``argument`` of a resource (may be empty)."""
    paths = [("sources", section, resource_name, argument), ("sources", section, argument)]
    paths.append(("sources", argument))
    found: dict[str, Any] = {}
    for path in paths:
        sections = tuple(part for part in path if part)
        for name in CONFIGURABLE_FIELDS:
            if name in found:
                continue
            raw = config_lookup.lookup_exact(sections, name)
            if raw is not None:
                found[name] = raw if name in _TEXT_FIELDS else _parse(raw)
    return found


def apply_config(
    template: Incremental[Any] | None, section: str | None, resource_name: str, argument: str
) -> Incremental[Any] | None:
    """``template`` with the configured fields applied; a new incremental if only config has
    one (it needs at least ``cursor_path``); ``template`` itself when nothing is configured."""
    fields = configured_fields(section, resource_name, argument)
    if not fields:
        return template
    if template is None:
        if "cursor_path" not in fields:
            return None
        return Incremental(**fields)
    return template.merge(Incremental(**fields))


def _parse(raw: Any) -> Any:
    """Configured text as a value: ``"10"`` → 10, ``"[\"id\"]"`` → a list; other text as is."""
    if not isinstance(raw, str):
        return raw  # a provider that keeps types (TOML)
    try:
        return json.loads(raw)
    except ValueError:
        return raw
