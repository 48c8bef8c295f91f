"""Settings: one frozen dataclass per configuration section, built by one function.

Every step gets its settings from :func:`resolve`, which decides each field the same way:

    **explicit argument > configuration > default**

An argument passed to a step (``pipeline.load(workers=8)``) wins over the configuration
(``LOAD__WORKERS=2``), which wins over the default written on the field. ``None`` means "not
passed". Configuration is read only through :mod:`quiver.configuration.lookup` (environment
variables today), with dlt's fallback from the full section path to shorter ones
(``NORMALIZE__PARQUET__COMPRESSION``, then ``NORMALIZE__COMPRESSION``, then ``COMPRESSION``).

Each field carries its documentation in ``metadata["doc"]`` and its configuration key
(relative to the class's ``SECTION``) in ``metadata["key"]``, ``None`` for fields that cannot be
configured; :func:`describe` lists them (for ``docs/configuration.md``).
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

from quiver.configuration import lookup as config
from quiver.configuration.providers import current_providers
from quiver.errors import ConfigValueInvalid

__all__ = [
    "DEFAULT_BUFFER_MAX_ITEMS",
    "DEFAULT_EXTRACT_WORKERS",
    "SECTIONS",
    "BufferConfig",
    "ExtractConfig",
    "FilesystemDestinationConfig",
    "LoadConfig",
    "NormalizeConfig",
    "ParquetOptions",
    "PipelineConfig",
    "RuntimeConfig",
    "ScaleOutConfig",
    "buffer_config",
    "config_path",
    "pipeline_config",
    "resolve",
]

#: Resources (and transformers) of one source extracted at once, in threads.
DEFAULT_EXTRACT_WORKERS = 5
#: Rows buffered per resource and table before they become one Arrow batch.
DEFAULT_BUFFER_MAX_ITEMS = 100_000

S = TypeVar("S")


def setting(
    default: Any,
    doc: str,
    *,
    key: tuple[str, ...] | None = (),
    minimum: int | None = None,
) -> Any:
    """A documented settings field.

    Args:
        default: the value when neither an argument nor configuration gives one.
        doc: what the field does, for users (goes into ``docs/configuration.md``).
        key: the configuration path below the class's ``SECTION``; ``()`` (the default) means
            the field's own name, ``None`` that the field cannot be configured.
        minimum: the smallest allowed value of an integer field.
    """
    return field(default=default, metadata={"doc": doc, "key": key, "minimum": minimum})


# ----------------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class ExtractConfig:
    """Extract settings (config section ``extract``)."""

    SECTION: ClassVar[tuple[str, ...]] = ("extract",)

    workers: int = setting(
        DEFAULT_EXTRACT_WORKERS,
        "Resources of one source (and their transformers) extracted at once, in threads; "
        "also the default of ``Pipeline.extract(workers=...)``.",
        minimum=1,
    )
    arrow_fast_path: bool = setting(
        True,
        "Write Arrow items that need no normalizing (names already normalized, no unnesting, "
        "no lineage columns, not merged or partitioned) as parquet at extract; normalize then "
        "passes a file through when coercing it would change nothing (docs/architecture.md).",
    )


@dataclass(frozen=True)
class BufferConfig:
    """Buffering and file rotation during extract (config section ``data_writer``).

    Each key may also be set for one source: ``SOURCES__<SOURCE>__DATA_WRITER__<KEY>`` wins over
    ``SOURCES__DATA_WRITER__<KEY>``, which wins over ``DATA_WRITER__<KEY>`` and ``<KEY>``
    (see docs/extract.md).
    """

    SECTION: ClassVar[tuple[str, ...]] = ("data_writer",)

    buffer_max_items: int = setting(
        DEFAULT_BUFFER_MAX_ITEMS,
        "Rows buffered per resource and table before they become one Arrow record batch.",
        minimum=1,
    )
    file_max_items: int | None = setting(
        None,
        "Rows per extracted file before a new file starts (``none``: no limit).",
        minimum=1,
    )
    file_max_bytes: int | None = setting(
        None,
        "Bytes per extracted file before a new file starts (``none``: no limit).",
        minimum=1,
    )


@dataclass(frozen=True)
class ParquetOptions:
    """How normalized parquet files are written (config section ``normalize.parquet``).

    Delta and Iceberg register the files as they are. snappy (delta-rs' default too) encodes
    1M flat rows in 0.26 s where zstd level 1 takes 0.61 s, for files about 1.5x larger; set
    ``NORMALIZE__PARQUET__COMPRESSION=zstd`` when storage or network cost more than CPU. Random
    row-id columns skip dictionary encoding, which can only fail on unique values.
    """

    SECTION: ClassVar[tuple[str, ...]] = ("normalize", "parquet")

    compression: str = setting(
        "snappy",
        "Parquet compression codec of normalized files (``snappy``, ``zstd``, ``gzip``, "
        "``lz4``, ``brotli`` or ``none``).",
    )
    compression_level: int | None = setting(
        None, "Codec level (``None``: the codec's default).", key=None
    )
    row_group_size: int = setting(1_000_000, "Rows per parquet row group.", key=None)
    # The names of dlt's row-id columns (schema.columns), spelled out: settings sit below schema.
    no_dictionary_columns: tuple[str, ...] = setting(
        ("_dlt_id", "_dlt_parent_id", "_dlt_root_id"),
        "Columns written without dictionary encoding (random, unique values).",
        key=None,
    )


_DEFAULT_PARQUET = ParquetOptions()


@dataclass(frozen=True)
class NormalizeConfig:
    """Normalize settings (config section ``normalize``)."""

    SECTION: ClassVar[tuple[str, ...]] = ("normalize",)

    add_dlt_load_id_to_arrow: bool = setting(
        False,
        "Add ``_dlt_load_id`` to tables that came as Arrow data (rows always get it).",
        key=("parquet_normalizer", "add_dlt_load_id"),
    )
    add_dlt_id_to_arrow: bool = setting(
        False,
        "Add a random ``_dlt_id`` to tables that came as Arrow data (rows always get it).",
        key=("parquet_normalizer", "add_dlt_id"),
    )
    # A shared default is safe: ParquetOptions is frozen.
    parquet: ParquetOptions = setting(  # noqa: RUF009
        _DEFAULT_PARQUET, "How parquet files are written (section ``normalize.parquet``)."
    )
    workers: int = setting(
        1,
        "Extracted files of one package normalized at once, in threads (the work is Arrow and "
        "polars kernels that release the GIL); also the default of "
        "``Pipeline.normalize(workers=...)``.",
        minimum=1,
    )
    overlap_extract: bool = setting(
        True,
        "``run()`` normalizes each package in a thread while it is extracted, so a run takes "
        "about the longer of the two steps instead of their sum; the extracted files are "
        "written as before and normalized from them when the streamed result does not match "
        "(docs/architecture.md, 'Overlapped extract and normalize').",
    )


@dataclass(frozen=True)
class ScaleOutConfig:
    """Where extract and normalize run (config section ``scale_out``; docs/scale-out.md)."""

    SECTION: ClassVar[tuple[str, ...]] = ("scale_out",)

    executor: str = setting(
        "",
        "``threads``, ``processes``, ``dask`` or ``ray``: run partitions and files on workers; "
        "empty: in this process. The default of ``executor=`` on ``run``/``extract``/``normalize``.",
    )
    workers: int = setting(0, "Workers of ``threads``/``processes`` (0: one per CPU core).")


@dataclass(frozen=True)
class LoadConfig:
    """Loader settings (config section ``load``)."""

    SECTION: ClassVar[tuple[str, ...]] = ("load",)

    workers: int = setting(
        4,
        "Tables of one level (roots, then their children, ...) committed at once, in threads; "
        "also the default of ``Pipeline.load(workers=...)``.",
        minimum=1,
    )
    raise_on_failed_jobs: bool = setting(
        True,
        "A job that fails terminally aborts its package and the load raises; ``false`` loads "
        "the other tables and reports the failed job in the LoadInfo.",
    )
    max_attempts: int = setting(
        10,
        "Attempts of each table and sidecar commit (and of each ``refresh`` drop) when it "
        "fails transiently (a connection reset, a timeout, a commit conflict with another "
        "writer, a lost response); when they run out, the package stays pending for the next "
        "run. Every commit carries its load id, so a retry never commits twice.",
        minimum=1,
    )
    backoff_seconds: float = setting(
        0.05,
        "Seconds to wait after the first failed attempt; the wait doubles after each attempt "
        "(at most 2 s) and is spread by +-50% so that conflicting writers do not retry in "
        "lockstep.",
    )


@dataclass(frozen=True)
class PipelineConfig:
    """Pipeline settings (config section ``pipelines``; ``pipelines.<pipeline name>`` first,
    see :func:`pipeline_config`)."""

    SECTION: ClassVar[tuple[str, ...]] = ("pipelines",)

    restore_from_destination: bool = setting(
        True,
        "``run()`` first syncs with the destination, once per pipeline instance: a newer "
        "state of this pipeline in the dataset replaces the local one and its schemas are "
        "restored (see docs/state.md); ``false`` never reads the destination's state.",
    )
    extract_after_pending: bool = setting(
        True,
        "When ``run(data)`` finds pending packages (an earlier run failed or was killed before "
        "its load finished), it loads them first, logs a warning and lists them in "
        "``LoadInfo.pending_load_ids``, then extracts, normalizes and loads ``data`` in the "
        "same call. ``false`` is dlt's behaviour: ``run()`` loads the pending packages, warns "
        "that ``data`` was not extracted and returns; the next ``run(data)`` loads it (see "
        "docs/bad-input.md, 'Failed packages').",
    )


@dataclass(frozen=True)
class FilesystemDestinationConfig:
    """Checks of the filesystem destination (config section ``destination.filesystem``; a named
    destination reads ``destination.<name>`` instead)."""

    SECTION: ClassVar[tuple[str, ...]] = ("destination", "filesystem")

    validate_credentials: bool = setting(
        True,
        "Before any work, make one request to an ``s3://`` bucket (does it exist, are the "
        "credentials accepted?); ``false`` skips it (e.g. a role that may write but not list).",
    )


@dataclass(frozen=True)
class SchemaConfig:
    """Schema settings (config section ``schema``; ``sources.<schema name>.schema`` first, as
    dlt's ``SCHEMA__NAMING``)."""

    SECTION: ClassVar[tuple[str, ...]] = ("schema",)

    naming: str | None = setting(
        None,
        "Naming convention of table and column names and of the dataset: ``snake_case``, "
        "``direct``, ``sql_cs_v1``, ``sql_ci_v1``, ``duck_case`` or the dotted path of a module "
        "with a ``NamingConvention`` class. Unset: ``snake_case`` for a new schema, the stored "
        "schema's own otherwise; changing it on a schema whose tables hold data is refused.",
    )


#: dlt's default log line (``RUNTIME__LOG_FORMAT``).
DEFAULT_LOG_FORMAT = (
    "{asctime}|[{levelname}]|{process}|{thread}|{name}|{filename}|{funcName}:{lineno}|{message}"
)


@dataclass(frozen=True)
class RuntimeConfig:
    """Logging (config section ``runtime``), as dlt's ``RUNTIME__LOG_LEVEL``."""

    SECTION: ClassVar[tuple[str, ...]] = ("runtime",)

    log_level: str = setting(
        "WARNING",
        "Level of the ``quiver`` loggers (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``); INFO "
        "logs each step's start, end, row counts and time, DEBUG each file and table commit.",
    )
    log_format: str = setting(
        DEFAULT_LOG_FORMAT,
        "Format of quiver's log lines (``str.format`` style fields of ``logging.LogRecord``).",
    )


#: Every settings class, in the order of the pipeline's steps.
SECTIONS: tuple[type[Any], ...] = (
    PipelineConfig,
    ExtractConfig,
    BufferConfig,
    NormalizeConfig,
    ParquetOptions,
    ScaleOutConfig,
    LoadConfig,
    FilesystemDestinationConfig,
    SchemaConfig,
    RuntimeConfig,
)


# -------------------------------------------------------------------------------- resolution
def resolve(
    cls: type[S],
    *,
    source_name: str | None = None,
    section: tuple[str, ...] | None = None,
    **explicit: Any,
) -> S:
    """Build the settings of a section: explicit argument > configuration > default, per field.

    Args:
        cls: a settings class (one of :data:`SECTIONS`).
        source_name: look each key up for this source first
            (``SOURCES__<SOURCE>__<SECTION>__<KEY>``, then ``SOURCES__<SECTION>__<KEY>``).
        section: read the keys under this section instead of the class's ``SECTION`` (a
            named destination: ``("destination", "my_lake")``).
        **explicit: values passed by the caller; ``None`` means "not passed".

    Returns:
        The settings, frozen.

    Raises:
        ConfigValueInvalid: a configured value is not of the field's type, or a value is below
            the field's minimum.

    Examples:
        >>> resolve(LoadConfig, workers=8).workers
        8
    """
    hints = _type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(explicit) - known
    if unknown:
        raise TypeError(f"{cls.__name__} has no settings {sorted(unknown)}")
    section = section if section is not None else getattr(cls, "SECTION", ())
    # Once per section, not per key: finding the providers stats every TOML file.
    providers = current_providers()
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[item.name]
        given = explicit.get(item.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            nested = resolve(kind, source_name=source_name) if given is None else given
            values[item.name] = nested
            continue
        path = config_path(section, item)
        if given is not None:
            value, where = given, ".".join(path or (*section, item.name))
        else:
            found = None if path is None else _find(path, source_name, providers)
            if found is None:
                continue  # the field's default
            where, raw = found
            value = _cast(raw, kind, where)
        _check_minimum(item, value, where)
        values[item.name] = value
    return cls(**values)


def pipeline_config(pipeline_name: str, **explicit: Any) -> PipelineConfig:
    """The ``pipelines`` settings of one pipeline: ``PIPELINES__<NAME>__<KEY>`` wins over
    ``PIPELINES__<KEY>`` and ``<KEY>`` (dlt's lookup for pipeline settings).

    Args:
        pipeline_name: The pipeline.
        **explicit: Values passed by the caller (``None``: not passed).
    """
    for item in dataclasses.fields(PipelineConfig):
        if explicit.get(item.name) is None:
            raw = config.lookup_exact(("pipelines", pipeline_name), item.name)
            if raw is not None:
                where = f"pipelines.{pipeline_name}.{item.name}"
                explicit[item.name] = _cast(raw, get_type_hints(PipelineConfig)[item.name], where)
    return resolve(PipelineConfig, **explicit)


def buffer_config(source_name: str | None = None) -> BufferConfig:
    """The ``data_writer`` settings for extracting ``source_name`` (see :class:`BufferConfig`)."""
    return resolve(BufferConfig, source_name=source_name)


def config_path(section: tuple[str, ...], item: dataclasses.Field[Any]) -> tuple[str, ...] | None:
    key: tuple[str, ...] | None = item.metadata.get("key", ())
    if key is None:
        return None
    return (*section, *(key or (item.name,)))


_TYPE_HINTS: dict[type[Any], dict[str, Any]] = {}


def _type_hints(cls: type[Any]) -> dict[str, Any]:
    """The fields' types (``get_type_hints`` evaluates the annotations' text on every call)."""
    hints = _TYPE_HINTS.get(cls)
    if hints is None:
        hints = _TYPE_HINTS[cls] = get_type_hints(cls)
    return hints


def _find(
    path: tuple[str, ...], source_name: str | None, providers: list[Any] | None = None
) -> tuple[str, Any] | None:
    """``(dotted key, raw value)`` of the first configured spelling of ``path``."""
    *sections, key = path
    if source_name:
        for scoped in (("sources", source_name, *sections), ("sources", *sections)):
            raw = config.lookup_exact(scoped, key, providers=providers)
            if raw is not None:
                return ".".join((*scoped, key)), raw
    return config.find(tuple(sections), key, providers=providers)


def _cast(raw: Any, kind: Any, where: str) -> Any:
    """The configured text as the field's type (``int | None`` takes ``none`` as ``None``)."""
    if _is_optional(kind):
        if isinstance(raw, str) and raw.strip().lower() in config.NONE_VALUES:
            return None
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
    if kind not in (bool, int, float, str):
        raise TypeError(f"setting {where} has type {kind!r}, which configuration cannot give")
    return config.cast(raw, kind, where)


def _is_optional(kind: Any) -> bool:
    return get_origin(kind) in (Union, types.UnionType) and type(None) in get_args(kind)


def _check_minimum(item: dataclasses.Field[Any], value: Any, where: str) -> None:
    minimum = item.metadata.get("minimum")
    if minimum is not None and value is not None and value < minimum:
        env = where.replace(".", "__").upper()
        raise ConfigValueInvalid(
            where,
            value,
            f"at least {minimum}",
            f"pass {item.name}={minimum} or more, or set {env} to {minimum} or more.",
        )
