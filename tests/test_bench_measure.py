"""The benchmark's memory meter counts the processes a tool starts (benches/measure.py).

A tool that hands work to a worker process must not look smaller than one that does the work
itself: the meter samples the children's resident sizes and adds their peak to the delta.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from benches.measure import PeakRssMeter

#: Holds 200 MiB of touched memory until its stdin closes.
_HOLDER = (
    "import sys; block = bytearray(200 * 2**20); block[::4096] = b'x' * len(block[::4096]); "
    "print('ready', flush=True); sys.stdin.read()"
)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="children are read from /proc")
def test_a_child_process_memory_counts_in_the_delta() -> None:
    with PeakRssMeter() as meter:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == b"ready\n"
        # The sampler reads every 20 ms; a checkpoint samples the parent only, so wait for a
        # sample of the child by polling the meter's own record (no sleep as synchronization).
        waiting = threading.Event()  # never set: its wait is the polling interval
        for _ in range(3000):  # a guard against a hang, not a timing: ends at the first sample
            if meter.children_peak_mb >= 200:
                break
            waiting.wait(0.01)
        holder.stdin.close()
        holder.wait()
        holder.stdout.close()
    report = meter.report
    assert report.children_peak_mb >= 200
    assert report.delta_mb >= report.children_peak_mb


def test_no_children_add_nothing() -> None:
    with PeakRssMeter() as meter:
        block = bytearray(20 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
    assert meter.report.children_peak_mb == 0.0
