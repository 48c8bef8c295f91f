"""``run()`` normalizes each package while it is extracted (``normalize.overlap_extract``).

:func:`overlapping` wraps the extract and the normalize of ``run()``; while it is active,
:func:`sink_for` gives every extracted package a :class:`~quiver.normalize.stream.
StreamNormalizer`, and the normalize step asks :func:`streamed_result` for the streamed
result before it normalizes the extracted files itself. Whatever the stream did not finish,
or did differently from the package loop, is discarded (docs/architecture.md, "Overlapped
extract and normalize").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quiver.normalize.normalizer import NormalizeMetrics
from quiver.normalize.stream import StreamFallback, StreamNormalizer
from quiver.pipeline.naming import naming_of
from quiver.pipeline.step_logs import logger
from quiver.scaleout.executors import resolve_executor
from quiver.schema.model import Schema
from quiver.settings import NormalizeConfig, resolve

if TYPE_CHECKING:
    from quiver.pipeline.pipeline import Pipeline

#: The pipeline whose ``run()`` is extracting, with its streams by load id.
_active: ContextVar[tuple[Pipeline, dict[str, StreamNormalizer]] | None] = ContextVar(
    "quiver_overlap", default=None
)


@contextlib.contextmanager
def overlapping(pipeline: Pipeline) -> Iterator[None]:
    """Streams may start while this block runs; those not taken by the end are discarded."""
    streams: dict[str, StreamNormalizer] = {}
    token = _active.set((pipeline, streams))
    try:
        yield
    finally:
        _active.reset(token)
        for stream in streams.values():  # extract failed, or the package held nothing
            stream.stop(discard=True)
            pipeline._storage.discard_temp(stream.target)


def sink_for(
    pipeline: Pipeline, load_id: str, schema: Schema, executor: Any
) -> StreamNormalizer | None:
    """A stream for the package ``load_id`` that ``schema`` is extracted into; ``None`` outside
    ``run()``, with an executor (``quiver.scaleout``) or with ``overlap_extract`` off."""
    active = _active.get()
    if active is None or active[0] is not pipeline or resolve_executor(executor) is not None:
        return None
    config = resolve(NormalizeConfig)
    if not config.overlap_extract:
        return None
    naming = naming_of(schema, pipeline.naming.max_length)
    target = pipeline._storage.new_temp_package(load_id)
    stream = StreamNormalizer(schema, target, load_id, naming, config)
    active[1][load_id] = stream
    return stream


def streamed_result(
    pipeline: Pipeline, load_id: str, schema: Schema
) -> tuple[Schema, Path, NormalizeMetrics] | None:
    """The package normalized while it was extracted, as normalizing ``schema`` (the schema
    the package loop starts from; it becomes the result) would give it; ``None`` when there
    is none or it cannot be used (its temp package is discarded then)."""
    active = _active.get()
    stream = active[1].pop(load_id, None) if active is not None else None
    if stream is None:
        return None
    storage = pipeline._storage
    extracted = storage.path("extracted", load_id)
    stream.stop()
    try:
        row_counts = storage.read_package_state(extracted).get("row_counts") or {}
        normalized, metrics = stream.result(schema, extracted, dict(row_counts))
    except StreamFallback as reason:
        storage.discard_temp(stream.target)
        logger.info(
            "%s: package %s is normalized from its extracted files: %s",
            pipeline.pipeline_name,
            load_id,
            reason,
        )
        return None
    except Exception as error:  # a bug here must cost a second normalize, never the package
        storage.discard_temp(stream.target)
        logger.warning(
            "%s: the result normalized during the extract of package %s could not be checked "
            "(%r); the package is normalized from its extracted files",
            pipeline.pipeline_name,
            load_id,
            error,
        )
        return None
    return normalized, stream.target, metrics
