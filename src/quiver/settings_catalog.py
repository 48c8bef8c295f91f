"""What ``docs/configuration.md`` lists: every setting of :mod:`quiver.settings` with its key,
environment variable, default and documentation, and the keys read outside ``resolve()``.

Kept apart from :mod:`quiver.settings` because only the docs generator and its test need it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, get_type_hints

from quiver.configuration import lookup as config
from quiver.settings import SECTIONS, config_path

__all__ = ["OTHER_KEYS", "SECTIONS", "OtherKey", "SettingInfo", "describe"]


# ---------------------------------------------------------------------------- documentation
@dataclass(frozen=True)
class SettingInfo:
    """One documented setting, as :func:`describe` lists it.

    Attributes:
        name: the field name on the settings class.
        key: the dotted configuration key (``load.workers``), ``None`` if not configurable.
        env: the environment variable (``LOAD__WORKERS``), ``None`` if not configurable.
        type: the field's type as text.
        default: the default value.
        doc: what the setting does.
    """

    name: str
    key: str | None
    env: str | None
    type: str
    default: Any
    doc: str


def describe(cls: type[Any]) -> list[SettingInfo]:
    """The fields of a settings class with their keys, defaults and documentation."""
    hints = get_type_hints(cls)
    section: tuple[str, ...] = getattr(cls, "SECTION", ())
    infos = []
    for item in dataclasses.fields(cls):
        path = config_path(section, item)
        kind = hints[item.name]
        infos.append(
            SettingInfo(
                name=item.name,
                key=None if path is None or dataclasses.is_dataclass(kind) else ".".join(path),
                env=None
                if path is None or dataclasses.is_dataclass(kind)
                else config.env_key(path[:-1], path[-1]),
                type=kind.__name__ if isinstance(kind, type) else str(kind),
                default=item.default,
                doc=str(item.metadata.get("doc", "")),
            )
        )
    return infos


# ------------------------------------------------------------------ keys read outside resolve()
@dataclass(frozen=True)
class OtherKey:
    """A configuration key (or environment variable) read by a module, not by :func:`resolve`.

    Attributes:
        key: the dotted key with ``<placeholders>`` (``None`` for an environment-only variable).
        env: the environment variable (the placeholders uppercased).
        default: what applies when it is not set.
        read_in: the module that reads it (``docs/configuration.md`` and a test check that
            every module reading configuration is listed).
        doc: what it does.
        secret: only secret providers may hold it, and it is masked wherever printed.
    """

    key: str | None
    env: str
    default: str
    read_in: str
    doc: str
    secret: bool = False


_CREDENTIALS = "destination.<name>.credentials"
_CREDENTIALS_ENV = "DESTINATION__<NAME>__CREDENTIALS"

#: Every key read outside :func:`resolve`, for ``docs/configuration.md``.
OTHER_KEYS: tuple[OtherKey, ...] = (
    OtherKey(
        "destination.<name>.bucket_url",
        "DESTINATION__FILESYSTEM__BUCKET_URL",
        "required",
        "quiver.destinations.filesystem",
        "Where the filesystem destination writes (``<name>`` is ``filesystem`` unless the "
        "destination is named); a user and password in the URL are taken out as S3 keys.",
    ),
    OtherKey(
        "destination.<name>.destination_type",
        "DESTINATION__<NAME>__DESTINATION_TYPE",
        "none",
        "quiver.destinations.filesystem",
        '``filesystem`` makes ``destination="<name>"`` a named filesystem destination whose '
        "settings are read under ``destination.<name>``.",
    ),
    OtherKey(
        "destination.<name>.truncate_tables_on_staging_destination_before_load",
        "DESTINATION__FILESYSTEM__TRUNCATE_TABLES_ON_STAGING_DESTINATION_BEFORE_LOAD",
        "``true``",
        "quiver.load.staging",
        "With ``staging``: delete a table's staged files of earlier loads before staging it "
        "again (dlt's setting; see docs/staging.md).",
    ),
    *(
        OtherKey(
            f"{_CREDENTIALS}.{field_name}",
            f"{_CREDENTIALS_ENV}__{field_name.upper()}",
            f"``{aws}``" if aws else "none",
            "quiver.destinations.credentials",
            f"S3 credentials: {what}; then the standard AWS variable.",
            secret=field_name in ("aws_secret_access_key", "aws_session_token"),
        )
        for field_name, aws, what in (
            ("aws_access_key_id", "AWS_ACCESS_KEY_ID", "the access key id"),
            ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "the secret access key"),
            ("aws_session_token", "AWS_SESSION_TOKEN", "a session token"),
            ("region_name", "AWS_REGION", "the region (or ``AWS_DEFAULT_REGION``)"),
            ("endpoint_url", "AWS_ENDPOINT_URL", "an S3-compatible server's URL"),
            ("profile_name", "", "a profile of the shared AWS config files"),
        )
    ),
    OtherKey(
        "sources.<section>.<name>.<argument>",
        "SOURCES__<SECTION>__<NAME>__<ARGUMENT>",
        "the argument's own default is not used: required",
        "quiver.configuration.accessors",
        "An argument of a source or resource whose default is ``quiver.config.value`` or "
        "``quiver.secrets.value`` (``<section>``: the function's module; a script's file stem).",
    ),
    OtherKey(
        "sources.<section>.<resource>.<argument>.<field>",
        "SOURCES__<SECTION>__<RESOURCE>__<ARGUMENT>__<FIELD>",
        "the incremental's own",
        "quiver.extract.incremental_config",
        "A field (``cursor_path``, ``initial_value``, ...) of an incremental argument.",
    ),
    OtherKey(
        "pipelines.<pipeline_name>.pipeline_salt",
        "PIPELINES__<PIPELINE_NAME>__PIPELINE_SALT",
        "derived from the pipeline name",
        "quiver.pipeline.salt",
        "The salt of ``Pipeline.anonymize`` when ``pipeline(pipeline_salt=...)`` is not given.",
        secret=True,
    ),
    OtherKey(
        "pipelines.<pipeline_name>.progress",
        "PIPELINES__<PIPELINE_NAME>__PROGRESS",
        "none",
        "quiver.pipeline.factory",
        "The progress collector (``log``, ``tqdm``, ...) when ``pipeline(progress=...)`` is "
        "not given.",
    ),
    OtherKey(
        None,
        "QUIVER_DATA_DIR",
        "``~/.quiver``",
        "quiver.pipeline.factory",
        "Environment only: pipelines' working folders are in ``$QUIVER_DATA_DIR/pipelines``.",
    ),
    OtherKey(
        None,
        "ICEBERG_CATALOG__ICEBERG_CATALOG_TYPE",
        "none (catalog-less tables)",
        "quiver.destinations.iceberg.catalog",
        "Environment only: the Iceberg catalog type (``sql``, ``rest``, ...); with "
        "``ICEBERG_CATALOG__ICEBERG_CATALOG_CONFIG`` (JSON properties) and "
        "``ICEBERG_CATALOG__ICEBERG_CATALOG_NAME``.",
    ),
    OtherKey(
        None,
        "QUIVER_PROJECT_DIR / DLT_PROJECT_DIR / DLT_CONFIG_FOLDER / XDG_DATA_HOME",
        "the current directory / ``.dlt``",
        "quiver.configuration.providers",
        "Environment only: where the TOML files are read (see the provider rules above).",
    ),
)
