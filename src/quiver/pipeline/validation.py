"""Checks run before any work: a configuration mistake fails fast and leaves nothing pending.

``run()`` checks, before it extracts, normalizes or loads anything:

* the arguments it passes on as hints (``write_disposition``, merge ``strategy``,
  ``table_format``, ``schema_contract``), with "did you mean", as ``@resource`` does;
* the destination: a ``bucket_url`` is given or configured (else dlt's
  ``ConfigFieldMissingException`` listing every key and file looked at), the URL is usable
  by the default table format, and for ``s3://`` one cheap request (does the bucket exist, are
  the credentials accepted?), skippable with ``DESTINATION__FILESYSTEM__VALIDATE_CREDENTIALS=false``.

``extract()`` checks its hint arguments the same way and then, once the sources are known and
before a package folder is created, every selected resource that merges: a merge needs keys
(dlt refuses a merge without a primary key on Delta and Iceberg: "No primary key defined for
table ...").

Hint errors are raised as :class:`~quiver.errors.PipelineStepFailed` of step ``extract`` (dlt
applies them inside extract); destination errors are raised as they are, as dlt does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from quiver.configuration import lookup as config_lookup
from quiver.configuration.logs import configure_logging, install_masking
from quiver.destinations.filesystem import FilesystemDestination
from quiver.errors import MergeConfigError, PipelineStepFailed, QuiverError
from quiver.extract.resource import Resource
from quiver.extract.source import Source
from quiver.schema.hints import check_hint_values
from quiver.settings import FilesystemDestinationConfig, RuntimeConfig, resolve

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

__all__ = ["activate", "check_destination", "check_run", "check_run_hints", "check_sources"]

#: Hint arguments of run()/extract() whose values are checked up front.
_CHECKED_HINTS = ("write_disposition", "table_format", "schema_contract")


def activate(pipeline_name: str) -> None:
    """Scope config lookups by the pipeline's name and apply the ``runtime`` log settings."""
    config_lookup.set_pipeline_name(pipeline_name)
    runtime = resolve(RuntimeConfig)
    configure_logging(runtime.log_level, runtime.log_format)


def check_run(
    pipeline: Pipeline, write_disposition: Any, table_format: Any, schema_contract: Any
) -> None:
    """Everything ``run()`` checks before it does any work (see the module docstring).

    Raises:
        PipelineStepFailed: a hint argument is not valid.
        ConfigFieldMissingException: no ``bucket_url`` is given or configured.
        DestinationConfigError: the URL or the credentials are not usable.
    """
    hints = {
        "write_disposition": write_disposition,
        "table_format": table_format,
        "schema_contract": schema_contract,
    }
    check_run_hints(pipeline, "run", hints)
    if pipeline.destination is not None:
        check_destination(pipeline, pipeline.destination)


def check_run_hints(pipeline: Pipeline, step: str, hints: Mapping[str, Any]) -> None:
    """Refuse unknown hint values given to ``run()``/``extract()``, before any work.

    Raises:
        PipelineStepFailed: (step ``extract``) wrapping ``InvalidHintValue`` or
            ``InvalidSchemaContract`` that names the argument, the value and the closest
            valid one.
    """
    activate(pipeline.pipeline_name)
    given = {name: hints[name] for name in _CHECKED_HINTS if hints.get(name) is not None}
    try:
        check_hint_values(given, f"{step}() of pipeline {pipeline.pipeline_name!r}")
    except QuiverError as error:
        raise PipelineStepFailed(pipeline.pipeline_name, "extract", None, error) from error


def check_destination(pipeline: Pipeline, destination: FilesystemDestination) -> None:
    """Refuse a destination that cannot be loaded into (see the module docstring).

    Raises:
        ConfigFieldMissingException: no ``bucket_url`` is given or configured.
        DestinationConfigError: the URL or the credentials are not usable.
        UnsupportedStorageError: the default table format cannot use the storage.
    """
    activate(pipeline.pipeline_name)
    install_masking()
    checks = resolve(FilesystemDestinationConfig, section=destination.config_sections)
    destination.check_usable(check_credentials=checks.validate_credentials)


def check_sources(pipeline: Pipeline, sources: Iterable[tuple[Source, list[Resource]]]) -> None:
    """Refuse a merge without keys in any selected resource, before anything is extracted.

    Only static hints are checked (a table name or disposition computed per item is checked
    when the package is loaded). Plain files (``table_format="native"``) refuse merge at load
    whatever the keys.

    Raises:
        PipelineStepFailed: (step ``extract``) wrapping ``MergeConfigError`` with dlt's wording.
    """
    for source, resources in sources:
        known_tables = _stored_tables(pipeline, source.name)
        for resource in resources:
            problem = _merge_problem(resource, known_tables)
            if problem is not None:
                error = MergeConfigError(problem)
                raise PipelineStepFailed(pipeline.pipeline_name, "extract", None, error) from error


def _stored_tables(pipeline: Pipeline, schema_name: str) -> Mapping[str, Any]:
    schema = pipeline.schemas.get(schema_name)
    return {} if schema is None else schema.tables


def _merge_problem(resource: Resource, known_tables: Mapping[str, Any]) -> str | None:
    """What is wrong with the resource's merge, in dlt's words and with the fix, or ``None``."""
    if resource.write_disposition != "merge":
        return None  # not a merge, or decided per item
    strategy = resource.hints.get("x-merge-strategy")
    if strategy == "scd2":
        return None  # scd2 identifies versions by row hash: no keys needed
    table = resource.table_name
    if not isinstance(table, str):
        return None
    primary_key = _has_key(resource, "primary_key", known_tables.get(table))
    merge_key = _has_key(resource, "merge_key", known_tables.get(table))
    no_keys = not primary_key and not merge_key
    if (strategy is None and no_keys) or (
        strategy in ("upsert", "insert-only") and not primary_key
    ):
        used = strategy or "upsert"
        return (
            f"No primary key defined for table `{table}` (resource {resource.name!r}). "
            f"`primary_key` needs to be set when using the `{used}` merge strategy. Hint: pass "
            "primary_key=... to the resource or to run(); or merge_key=... with "
            "write_disposition={'disposition': 'merge', 'strategy': 'delete-insert'}; or use "
            "write_disposition='append'."
        )
    if strategy == "delete-insert" and not primary_key and not merge_key:
        return (
            f"Table `{table}` (resource {resource.name!r}) merges with strategy `delete-insert` "
            "but has neither a `primary_key` nor a `merge_key`, so no row could be replaced. "
            "Hint: pass primary_key=... or merge_key=... to the resource or to run(), or use "
            "write_disposition='append'."
        )
    return None


def _has_key(resource: Resource, hint: str, stored_table: Any) -> bool:
    if resource.hints.get(hint):
        return True
    columns = resource.columns
    if isinstance(columns, Mapping) and any(
        isinstance(column, Mapping) and column.get(hint) for column in columns.values()
    ):
        return True
    if not isinstance(columns, Mapping | type(None)):
        return True  # a model or a callable: its keys are known only per item
    stored_columns = (stored_table or {}).get("columns", {})
    return any(column.get(hint) for column in stored_columns.values())
