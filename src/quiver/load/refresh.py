"""The loader's part of ``refresh``: drop or truncate tables before a package's data loads.

Extract decides what a refresh removes and records it in the package
(``dropped_tables``/``truncated_tables`` of :class:`~quiver.package.storage.PackageState`);
nothing in the destination changes until extract and normalize succeeded and the package is
loaded. The loader then drops and truncates those tables before it commits any of the
package's data, and records ``refreshed_at`` in the package state.

Exactly once: a package whose state has ``refreshed_at`` is never refreshed again, so a load
retried after some tables committed cannot drop the rows it already loaded. A crash before
``refreshed_at`` is written repeats the step, which is harmless because no data of the package
was committed yet (drops of missing tables are no-ops, and Delta and Iceberg also skip a
truncation their history already records for the load id).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from quiver.destinations.base import TableFormat
from quiver.errors import InternalError, LoadError
from quiver.load.retry import RetryPolicy, classify


def apply_refresh(
    state: dict[str, Any],
    table_format: Callable[[str], TableFormat],
    default_format: str,
    load_id: str,
    retry: RetryPolicy,
) -> bool:
    """Drop and truncate the package's refreshed tables, unless that was done already.

    Args:
        state: the package state; ``refreshed_at`` is set in it when something was done.
        table_format: the loader's table format by name.
        default_format: the destination's table format, for tables without a hint.
        load_id: the package.
        retry: the loader's retry policy (each drop or truncation is retried on its own).

    Returns:
        Whether the state changed (the caller writes it before loading any data).

    Raises:
        LoadError: a drop or truncation failed (the package stays pending).
        InternalError: a bug in quiver.
    """
    dropped = state.get("dropped_tables") or []
    truncated = state.get("truncated_tables") or []
    if state.get("refreshed_at") or not (dropped or truncated):
        return False
    # Children first: a nested table never outlives its parent, even for a moment.
    for table in reversed(dropped):
        _run(table, table_format, default_format, load_id, retry, truncate=False)
    for table in reversed(truncated):
        _run(table, table_format, default_format, load_id, retry, truncate=True)
    state["refreshed_at"] = datetime.datetime.now(datetime.UTC).isoformat()
    return True


def _run(
    table: dict[str, Any],
    table_format: Callable[[str], TableFormat],
    default_format: str,
    load_id: str,
    retry: RetryPolicy,
    *,
    truncate: bool,
) -> None:
    name = str(table["name"])
    verb = "Truncating" if truncate else "Dropping"
    try:
        target = table_format(str(table.get("table_format") or default_format))
        if truncate:
            retry.run(
                lambda: target.truncate_table(name, load_id),
                what=f"{verb} table {name!r} for package {load_id}",
            )
        else:
            retry.run(lambda: target.drop_table(name), what=f"{verb} table {name!r}")
    except Exception as error:
        if classify(error) == "bug":
            raise InternalError("load", f"{verb.lower()} table {name!r}", load_id, error) from error
        # A terminal error aborts the package (the loader moves it out of the way).
        raise LoadError(name, load_id, error, retryable=classify(error) != "terminal") from error
