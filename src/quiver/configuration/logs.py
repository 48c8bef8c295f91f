"""quiver's logging: named loggers under ``quiver``, dlt's level setting, secrets masked.

As in dlt, the level comes from ``RUNTIME__LOG_LEVEL`` (default ``WARNING``) and the line
format from ``RUNTIME__LOG_FORMAT``; the ``quiver`` logger writes to standard error through its
own handler and does not propagate, so a line is printed once. To route quiver's records
through your own handlers instead, add a handler to ``logging.getLogger("quiver")`` before
the first pipeline is created: quiver then neither adds its handler nor stops propagation.

Loggers: ``quiver.pipeline`` (each step's start and end, row counts, time), ``quiver.extract``,
``quiver.normalize``, ``quiver.load`` (each file and table commit at DEBUG), and the modules'
own loggers (``quiver.load.retry``, ...). Every record of a ``quiver`` logger passes
:class:`MaskingFilter`, which replaces known secrets with ``***``.
"""

from __future__ import annotations

import logging
import sys
from typing import Final, TextIO

from quiver.configuration import masking
from quiver.errors import ConfigValueInvalid

__all__ = ["ROOT_LOGGER", "MaskingFilter", "configure_logging", "get_logger", "install_masking"]

ROOT_LOGGER: Final = "quiver"


class MaskingFilter(logging.Filter):
    """Replaces registered secrets in a record's message and traceback with ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = masking.mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = masking.mask_text(record.exc_text)
        return True


_FILTER: Final = MaskingFilter()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr`` (which tests and notebooks may replace)."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(_FILTER)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current sys.stderr


def get_logger(name: str) -> logging.Logger:
    """A ``quiver`` logger with the masking filter on it."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def install_masking() -> None:
    """Put the masking filter on every ``quiver`` logger created so far."""
    for name in list(logging.Logger.manager.loggerDict):
        if name == ROOT_LOGGER or name.startswith(ROOT_LOGGER + "."):
            get_logger(name)


def configure_logging(level: str, log_format: str) -> None:
    """Set the ``quiver`` logger's level and format (dlt's ``runtime.log_level``/``log_format``).

    Args:
        level: a level name (``"INFO"``) or number.
        log_format: a ``str.format``-style format of ``logging.LogRecord`` fields.

    Raises:
        ConfigValueInvalid: ``level`` is not a logging level.
    """
    root = get_logger(ROOT_LOGGER)
    numeric = logging.getLevelName(level.upper()) if not level.isdigit() else int(level)
    if not isinstance(numeric, int):
        raise ConfigValueInvalid(
            "runtime.log_level",
            level,
            "a logging level",
            "set RUNTIME__LOG_LEVEL to DEBUG, INFO, WARNING, ERROR or CRITICAL.",
        )
    root.setLevel(numeric)
    ours = [handler for handler in root.handlers if isinstance(handler, _StderrHandler)]
    if ours or not root.handlers:
        handler = ours[0] if ours else _StderrHandler()
        handler.setFormatter(logging.Formatter(log_format, style="{"))
        if not ours:
            root.addHandler(handler)
        root.propagate = False
    install_masking()
