"""Peak memory of the timed section of a benchmark child process.

Why the kernel's high-water mark and not polling: ``ru_maxrss`` (``VmHWM``) is exact, costs
nothing while the code runs and catches spikes that last microseconds, where a polling thread
samples every few milliseconds, misses short spikes and competes for one of the two cores. Its
drawback is that it is a high-water mark for the whole process, and the child generates its input
(millions of dicts) in memory before timing. Linux lets a process reset the mark (write ``5`` to
``/proc/self/clear_refs``), so the child resets it right before the timed section and reads
``ru_maxrss`` right after: the peak of the timed section alone. Where the reset is not available
(macOS, hardened kernels) the meter falls back to polling with psutil every 5 ms.

RSS also counts the pages of memory-mapped files a process reads (``RssFile``: clean page cache
the kernel can drop at any time, e.g. an Arrow IPC file read through ``pa.memory_map``), which
the high-water mark cannot tell apart from allocated memory (``RssAnon``). So a light sampler
also reads ``RssAnon`` from ``/proc/self/status`` every 20 ms (a few microseconds per read):
its peak is approximate, but it shows how much of a peak was memory the process allocated.

Processes the tool starts during the section (dlt's normalize with ``workers`` > 1 uses a
process pool, say) are the load's memory too, but their high-water marks are not readable
once they exited (and ``RUSAGE_CHILDREN`` counts the parent's pages a child had between fork and
exec). The sampler therefore also reads the children's ``VmRSS`` every 20 ms; their peak sum is
added to the delta (an upper bound: the two peaks need not coincide).

Reported: the absolute peak, the resident size just before the timed section (the baseline: the
interpreter, imported libraries and the generated input), their difference (the memory the load
needed), and the same difference for anonymous memory alone where Linux reports it.
"""

from __future__ import annotations

import resource
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")
_POLL_SECONDS = 0.005
_ANON_SAMPLE_SECONDS = 0.02


@dataclass(frozen=True)
class MemoryReport:
    """Resident memory of the timed section, in MiB."""

    baseline_mb: float
    peak_mb: float
    method: str
    anon_baseline_mb: float | None = None
    anon_peak_mb: float | None = None
    #: The highest sum of the resident sizes of child processes (sampled every 20 ms).
    children_peak_mb: float = 0.0

    @property
    def delta_mb(self) -> float:
        return max(self.peak_mb - self.baseline_mb, 0.0) + self.children_peak_mb

    @property
    def anon_delta_mb(self) -> float | None:
        if self.anon_peak_mb is None or self.anon_baseline_mb is None:
            return None
        return max(self.anon_peak_mb - self.anon_baseline_mb, 0.0)


@dataclass(frozen=True)
class _Sample:
    rss_mb: float
    anon_mb: float | None


def _sample() -> _Sample:
    if _STATUS.exists():
        fields = {}
        for line in _STATUS.read_text().splitlines():
            if line.startswith(("VmRSS:", "RssAnon:")):
                name, value = line.split(":", 1)
                fields[name] = int(value.split()[0]) / 1024
        if "VmRSS" in fields:
            return _Sample(fields["VmRSS"], fields.get("RssAnon"))
    import psutil

    return _Sample(float(psutil.Process().memory_info().rss) / 2**20, None)


def _children_rss_mb() -> float:
    """The resident sizes of this process's children, summed (0 where Linux does not say).

    A child that has not run its own program yet (between fork and exec) shares this process's
    pages and its command line: it is skipped. So is a child forked without exec (a
    ``multiprocessing`` "fork" worker), whose copy-on-write pages cannot be told apart here.
    """
    total = 0.0
    try:
        tasks = list(Path("/proc/self/task").iterdir())
        own_command = Path("/proc/self/cmdline").read_bytes()
    except OSError:
        return 0.0
    for task in tasks:
        try:
            pids = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes() == own_command:
                    continue
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue  # it ended meanwhile
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


def _maxrss_mb() -> float:
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class PeakRssMeter:
    """Context manager measuring the peak resident set size of the code inside it.

    :meth:`checkpoint` splits the section into parts (the steps of a load) and returns the peak
    of the part that just ended; the report's peak is the highest of all parts.

    Examples:
        >>> with PeakRssMeter() as meter:
        ...     block = bytearray(10 * 2**20)
        >>> meter.report.delta_mb >= 0
        True
    """

    def __init__(self) -> None:
        self._kernel = False
        self._baseline = _Sample(0.0, None)
        self._peak = 0.0
        self._part_rss_peak = 0.0
        self._anon_peak: float | None = None
        self._children_peak = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.report = MemoryReport(0.0, 0.0, "none")

    def __enter__(self) -> PeakRssMeter:
        # Reset first: the baseline is then the resident size the high-water mark starts from.
        self._kernel = _reset_high_water_mark()
        self._baseline = _sample()
        self._peak = self._part_rss_peak = self._baseline.rss_mb
        self._anon_peak = self._baseline.anon_mb
        interval = _ANON_SAMPLE_SECONDS if self._kernel else _POLL_SECONDS
        # Sampled in any case: the children's resident sizes (and RssAnon where Linux has it).
        self._thread = threading.Thread(
            target=self._poll, args=(interval,), name="rss-sampler", daemon=True
        )
        self._thread.start()
        return self

    def _record(self, sample: _Sample) -> None:
        self._part_rss_peak = max(self._part_rss_peak, sample.rss_mb)
        if sample.anon_mb is not None:
            self._anon_peak = max(self._anon_peak or 0.0, sample.anon_mb)

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._record(_sample())
            self._children_peak = max(self._children_peak, _children_rss_mb())

    @property
    def children_peak_mb(self) -> float:
        """The highest sum of the children's resident sizes sampled so far (MiB)."""
        return self._children_peak

    @property
    def baseline_mb(self) -> float:
        return self._baseline.rss_mb

    def checkpoint(self) -> float:
        """The peak RSS (MiB) since the previous checkpoint or the start; then start a new part."""
        now = _sample()
        self._record(now)
        if self._kernel:
            part_peak = _maxrss_mb()
            _reset_high_water_mark()
        else:
            part_peak = self._part_rss_peak
        self._part_rss_peak = now.rss_mb
        self._peak = max(self._peak, part_peak)
        return part_peak

    def __exit__(self, *exc_info: object) -> None:
        self.checkpoint()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        method = "ru_maxrss after clear_refs" if self._kernel else "psutil polling every 5 ms"
        self.report = MemoryReport(
            self._baseline.rss_mb,
            self._peak,
            method,
            anon_baseline_mb=self._baseline.anon_mb,
            anon_peak_mb=self._anon_peak,
            children_peak_mb=self._children_peak,
        )
