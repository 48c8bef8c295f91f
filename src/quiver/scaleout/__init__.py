"""Scale out: extract and normalize on workers of an existing engine (docs/scale-out.md).

The pipeline hands its extract to :func:`extract_on` and, when the step has an executor
(:func:`executor_of_step`), its normalize to :func:`workers_normalizer`; without an executor
they run in this process as before. With one (``threads``, ``processes``,
a ``dask.distributed`` client, ``ray``), partitions and groups of files run as tasks on the
workers, which write their files into the package on the shared working folder and return
small results; the coordinator merges them into one package, which loads as any other: one
commit per table carrying the load id, then the sidecars.
"""

from quiver.scaleout.executors import Executor, executor_of_step, resolve_executor
from quiver.scaleout.extract import extract_on
from quiver.scaleout.normalize import normalize_on, workers_normalizer

__all__ = [
    "Executor",
    "executor_of_step",
    "extract_on",
    "normalize_on",
    "resolve_executor",
    "workers_normalizer",
]
