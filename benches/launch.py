"""Start one benchmark run the way a user's script starts: ``import quiver as dlt`` first.

``python -m benches.launch <spec.json>`` imports the spec's tool before anything of the
harness (whose modules import pyarrow), then runs :func:`benches.child.main`. A loader's
import-time defaults then apply as in a script that begins with its import; quiver's turns off
transparent huge pages in Arrow's mimalloc pool, which mimalloc only reads when pyarrow loads
(docs/guide/performance.md, "Huge pages"). The floor imports nothing first: it is pyarrow and
the engines with their defaults.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

#: Seconds the tool's import took here (``None`` for the floor); the child reports it.
tool_import_s: float | None = None


def main(argv: list[str]) -> int:
    tool = json.loads(Path(argv[1]).read_text())["tool"]
    if tool != "floor":
        started = time.perf_counter()
        importlib.import_module(tool)
        # Run as ``-m``, this module is ``__main__``; the child reads the imported copy.
        importlib.import_module("benches.launch").tool_import_s = time.perf_counter() - started
    from benches.child import main as run_child

    return run_child(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
