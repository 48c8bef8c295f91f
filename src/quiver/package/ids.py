"""Load ids and short unique ids."""

from __future__ import annotations

import secrets
import threading
import time
from decimal import Decimal

_lock = threading.Lock()
_last_micros = 0


def new_load_id() -> str:
    """Return a strictly increasing decimal UNIX timestamp with microseconds, e.g. ``1795255399.046441``.

    Sorting load ids as strings or numbers gives the order in which packages were created; the
    loader turns the id into an integer (microseconds) to version Delta app transactions.
    """
    global _last_micros
    with _lock:
        micros = time.time_ns() // 1000
        if micros <= _last_micros:
            micros = _last_micros + 1
        _last_micros = micros
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def load_id_to_version(load_id: str) -> int:
    """Integer form of a load id (microseconds since the epoch), monotonic in the load id."""
    return int(Decimal(load_id) * 1_000_000)


def uniq_id(length: int = 10) -> str:
    """Random hex id of ``length`` characters, for file ids and temporary folders."""
    return secrets.token_hex((length + 1) // 2)[:length]
