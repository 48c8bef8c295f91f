"""Errors of running extract and normalize on workers (``executor=``; docs/scale-out.md)."""

from __future__ import annotations

from quiver.errors.base import QuiverError, did_you_mean

EXECUTOR_NAMES = ("threads", "processes", "dask", "ray")


class ExecutorNotSupported(QuiverError, ValueError):
    """``executor=`` (or ``scale_out.executor``) names no executor quiver can run on."""

    def __init__(self, executor: object) -> None:
        self.executor = executor
        super().__init__(
            f"executor={executor!r} is not an executor quiver can run on."
            f"{did_you_mean(executor, EXECUTOR_NAMES)} Hint: use 'threads', 'processes', "
            "'dask' (or pass a dask.distributed.Client), 'ray', or None to run in this process."
        )


class WorkerTaskFailed(QuiverError, RuntimeError):
    """A task raised on a worker; the error and its traceback came back as text.

    Attributes:
        step: ``extract`` or ``normalize``.
        task: which work the task did (a resource and partition, or files).
        load_id: the package the task worked on.
        error_type: the class name of the worker's error.
        remote_traceback: the worker's traceback.
        retryable: whether the worker's error was transient (a retry of the step may succeed);
            a data error is not, so the package is handled as in one process.
    """

    def __init__(
        self,
        step: str,
        task: str,
        load_id: str,
        error_type: str,
        message: str,
        remote_traceback: str,
        retryable: bool = False,
    ) -> None:
        self.step = step
        self.retryable = retryable
        self.task = task
        self.load_id = load_id
        self.error_type = error_type
        self.remote_traceback = remote_traceback
        super().__init__(
            f"{step} of {task} (package {load_id}) failed on a worker: {error_type}: {message}\n"
            f"Worker traceback:\n{remote_traceback}"
            "Hint: fix the cause above and run again; nothing of this package was committed."
        )


class WorkerTaskNotSerializable(QuiverError, TypeError):
    """A task could not be sent to a worker process (its resource cannot be pickled)."""

    def __init__(self, task: str, error: BaseException) -> None:
        self.task = task
        super().__init__(
            f"{task} cannot be sent to a worker process: {type(error).__name__}: {error}. "
            "Hint: define the resource as a function (@quiver.resource) that makes its data "
            "when called, or use executor='threads'."
        )
