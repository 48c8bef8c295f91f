"""An uncaught error's traceback is printed with known secrets masked.

quiver's own messages mask secrets (:func:`quiver.errors.base.filter_message`), but the chain
Python prints for an uncaught error also holds the original errors: a resource's own
``ValueError`` or an engine error that quotes ``s3://KEY:SECRET@bucket``. Python's default hook
prints them as they are. A pipeline replaces the *default* hook (never another tool's, such as
IPython's) with one that prints the same traceback through
:func:`quiver.configuration.masking.mask_text`.
"""

from __future__ import annotations

import sys
import traceback
from types import TracebackType

from quiver.configuration.masking import mask_text

__all__ = ["install_masking_excepthook"]


def _masking_excepthook(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    sys.stderr.write(mask_text("".join(traceback.format_exception(kind, error, trace))))


def install_masking_excepthook() -> None:
    """Print uncaught errors with secrets masked, unless another tool replaced the hook."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _masking_excepthook
