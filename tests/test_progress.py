"""Progress collectors, as dlt documents them (docs: general-usage/pipeline.md "Monitor the
loading progress"; API reference dlt.common.runtime.collector): ``progress=`` takes
``"log"``, ``"tqdm"``, ``"enlighten"``, ``"alive_progress"`` or a collector object; the log
collector writes a block of counters per step; the bar libraries are optional.

The bars are tested where users see them: a script runs in a real terminal (tmux), the test
reads the screen (``capture-pane``) while the run is paused after the first batch, and again
at the end.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import quiver
from quiver.errors import InvalidProgressOption, MissingDependencyError, UnknownProgressCollector
from quiver.progress import Collector


def _pipeline(pipelines_dir: str, bucket: Path, progress: Any, name: str = "prog") -> Any:
    return quiver.pipeline(
        name,
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
        progress=progress,
    )


@quiver.source(name="shop")
def shop_source() -> Any:
    @quiver.resource(table_name="orders")
    def orders() -> Any:
        # Four record batches: progress advances once per batch, never per row.
        for page in range(4):
            yield pa.table({"id": list(range(page * 250, (page + 1) * 250))})

    @quiver.resource(table_name="customers")
    def customers() -> Any:
        yield [{"id": i, "tags": [{"t": "a"}, {"t": "b"}]} for i in range(30)]

    return orders, customers


class RecordingCollector(Collector):
    """A user's collector object: records what the pipeline reports."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.updates: list[tuple[str, str, int, int | None, str | None]] = []
        self.trace_events: list[str] = []

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        self.updates.append((self.step or "", name, inc, total, label))

    def _start(self, step: str) -> None:
        self.steps.append(step)

    def _stop(self) -> None:
        self.steps.append("stop")

    def on_start_trace(self, trace: Any, step: str, pipeline: Any) -> None:
        self.trace_events.append(f"start trace {step}")

    def on_end_trace_step(
        self, trace: Any, step: Any, pipeline: Any, step_info: Any, send_state: bool
    ) -> None:
        self.trace_events.append(f"end step {step.step}")

    def on_end_trace(self, trace: Any, pipeline: Any, send_state: bool) -> None:
        self.trace_events.append("end trace")

    def counted(self, step_prefix: str, name: str, label: str | None = None) -> int:
        return sum(
            inc
            for step, counter, inc, _, lab in self.updates
            if step.startswith(step_prefix) and counter == name and lab == label
        )

    def calls(self, step_prefix: str, name: str) -> int:
        return sum(
            1
            for step, counter, inc, _, _ in self.updates
            if step.startswith(step_prefix) and counter == name and inc
        )


# ------------------------------------------------------------------------- names
@pytest.mark.parametrize(
    ("given", "suggested"), [("tqmd", "tqdm"), ("logg", "log"), ("bogus", None)]
)
def test_unknown_collector_name_raises_at_pipeline(
    pipelines_dir: str, given: str, suggested: str | None
) -> None:
    with pytest.raises(UnknownProgressCollector) as raised:
        quiver.pipeline("named", pipelines_dir=pipelines_dir, progress=given)
    message = str(raised.value)
    assert isinstance(raised.value, ValueError)  # dlt raises ValueError
    assert f"progress={given!r}" in message and "Hint:" in message
    assert ("Did you mean" in message) == (suggested is not None)
    if suggested:
        assert f"Did you mean {suggested!r}?" in message
    assert not (Path(pipelines_dir) / "named").exists()  # refused before anything is created


def test_unknown_collector_raises_at_attach_and_for_other_objects(pipelines_dir: str) -> None:
    quiver.pipeline("att", pipelines_dir=pipelines_dir)
    with pytest.raises(UnknownProgressCollector, match="enlighen"):
        quiver.attach("att", pipelines_dir=pipelines_dir, progress="enlighen")
    with pytest.raises(UnknownProgressCollector, match="is a int, not a collector"):
        quiver.pipeline("att", pipelines_dir=pipelines_dir, progress=42)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("log", quiver.progress.LogCollector),
        ("tqdm", quiver.progress.TqdmCollector),
        ("enlighten", quiver.progress.EnlightenCollector),
        ("alive_progress", quiver.progress.AliveCollector),
    ],
)
def test_collector_names_give_dlt_collectors(pipelines_dir: str, name: str, kind: type) -> None:
    pipeline = quiver.pipeline("names", pipelines_dir=pipelines_dir, progress=name)
    assert type(pipeline.collector) is kind
    # dlt's spelling of the classes
    assert getattr(quiver.progress, name) is kind


def test_progress_comes_from_config(pipelines_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # dlt: "the value of the progress argument is configurable" (PROGRESS=log)
    monkeypatch.setenv("PROGRESS", "log")
    assert type(quiver.pipeline("cfg", pipelines_dir=pipelines_dir).collector).__name__ == (
        "LogCollector"
    )
    monkeypatch.setenv("PIPELINES__CFG2__PROGRESS", "tqdm")
    assert isinstance(
        quiver.pipeline("cfg2", pipelines_dir=pipelines_dir).collector, quiver.progress.tqdm
    )
    monkeypatch.setenv("PIPELINES__CFG3__PROGRESS", "tdqm")
    with pytest.raises(UnknownProgressCollector, match="Did you mean 'tqdm'"):
        quiver.pipeline("cfg3", pipelines_dir=pipelines_dir)


def test_no_progress_by_default(pipelines_dir: str) -> None:
    assert isinstance(
        quiver.pipeline("quiet", pipelines_dir=pipelines_dir).collector,
        quiver.progress.NullCollector,
    )


# ---------------------------------------------------------- what the steps report
def test_collector_object_counts_every_step_per_batch(pipelines_dir: str, bucket: Path) -> None:
    collector = RecordingCollector()
    pipeline = _pipeline(pipelines_dir, bucket, collector)
    info = pipeline.run(shop_source())
    assert info is not None
    (load_id,) = info.loads_ids
    assert pipeline.collector is collector

    # One counted block per step and package, named as dlt names them.
    opened = [s for s in collector.steps if s != "stop"]
    assert opened == ["Extract shop", f"Normalize shop in {load_id}", f"Load shop in {load_id}"]
    assert collector.steps.count("stop") == 3

    # Extract: Resources done/total and rows per table, once per record batch.
    totals = [t for step, name, _, t, _ in collector.updates if name == "Resources" and t]
    assert totals == [2]
    assert collector.counted("Extract", "Resources") == 2
    assert collector.counted("Extract", "orders") == 1000
    assert collector.calls("Extract", "orders") == 4  # four batches, not 1000 calls
    assert collector.counted("Extract", "customers") == 30

    # Normalize: Files done/total and rows per table (nested tables too), once per file.
    (files_total,) = [t for step, name, _, t, _ in collector.updates if name == "Files" and t]
    assert files_total >= 2  # the orders (Arrow) and customers (rows) files at least
    assert collector.counted("Normalize", "Files") == files_total
    assert collector.counted("Normalize", "orders") == 1000
    assert collector.counted("Normalize", "customers__tags") == 60
    assert collector.calls("Normalize", "orders") <= collector.counted("Normalize", "Files")

    # Load: job files and table commits.
    assert collector.counted("Load", "Commits") == 3  # orders, customers, customers__tags
    package = pipeline.get_load_package_info(load_id)
    assert collector.counted("Load", "Jobs") == len(package.jobs["completed_jobs"])
    jobs_total = [t for step, name, _, t, _ in collector.updates if name == "Jobs" and t]
    assert jobs_total == [len(package.jobs["completed_jobs"])]

    # The trace hooks of the collector are called too.
    assert collector.trace_events[0] == "start trace run"
    assert collector.trace_events[-2:] == ["end step run", "end trace"]
    assert "end step extract" in collector.trace_events


def test_failed_job_is_counted_with_the_failed_label(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(bucket / "ds" / "events"), pa.table({"id": pa.array([1], pa.int64())}))
    monkeypatch.setenv("LOAD__RAISE_ON_FAILED_JOBS", "false")
    out = io.StringIO()
    collector = quiver.progress.log(log_period=3600, logger=out, dump_system_stats=False)
    info = _pipeline(pipelines_dir, bucket, collector).run([{"id": "x"}], table_name="events")
    assert info is not None and info.has_failed_jobs
    assert "Jobs (Failed): 1 | Time:" in out.getvalue()
    assert "[WARNING: Some of the jobs failed!]" in out.getvalue()


# ------------------------------------------------------------------ log collector
def test_log_collector_writes_dlt_blocks(pipelines_dir: str, bucket: Path) -> None:
    out = io.StringIO()
    collector = quiver.progress.log(log_period=3600, logger=out, dump_system_stats=False)
    info = _pipeline(pipelines_dir, bucket, collector).run(shop_source())
    assert info is not None
    (load_id,) = info.loads_ids
    text = out.getvalue()
    lines = text.splitlines()

    # A centered 80-character header per step (dlt's format).
    for step in ("Extract shop", f"Normalize shop in {load_id}", f"Load shop in {load_id}"):
        header = f" {step} ".center(80, "-")
        assert header in lines
    # The last block of each step has the final counts.
    extract_block = _last_block(lines, "Extract shop")
    assert any(line.startswith("Resources: 2/2 (100.0%) | Time: ") for line in extract_block)
    assert any(
        line.startswith("orders: 1000 | Time: ") and "| Rate: " in line for line in extract_block
    )
    assert any(line.startswith("customers: 30 | Time: ") for line in extract_block)
    normalize_block = _last_block(lines, f"Normalize shop in {load_id}")
    assert any(line.startswith("customers__tags: 60 | ") for line in normalize_block)
    assert any(line.startswith("Files: ") and "(100.0%)" in line for line in normalize_block)
    load_block = _last_block(lines, f"Load shop in {load_id}")
    assert any(line.startswith("Commits: 3/3 (100.0%)") for line in load_block)
    assert any(line.startswith("Jobs: ") and "(100.0%)" in line for line in load_block)


def test_log_collector_is_throttled_by_log_period(pipelines_dir: str, bucket: Path) -> None:
    out = io.StringIO()
    collector = quiver.progress.log(log_period=3600, logger=out, dump_system_stats=False)

    @quiver.resource(table_name="many")
    def many() -> Any:
        for page in range(50):
            yield pa.table({"id": [page]})

    _pipeline(pipelines_dir, bucket, collector).extract(many())
    headers = [line for line in out.getvalue().splitlines() if "Extract " in line]
    # A block when a counter appears (Resources, many) and one when the step ends: not 50.
    assert len(headers) == 3


def test_log_collector_to_a_logger_at_a_level(
    pipelines_dir: str, bucket: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("my_airflow_task")
    collector = quiver.progress.log(60, logger, log_level=logging.WARNING, dump_system_stats=False)
    with caplog.at_level(logging.WARNING, logger="my_airflow_task"):
        _pipeline(pipelines_dir, bucket, collector).run([{"id": 1}], table_name="t")
    records = [r for r in caplog.records if r.name == "my_airflow_task"]
    assert records and all(r.levelno == logging.WARNING for r in records)
    assert any("t: 1 | Time:" in r.getMessage() for r in records)


def test_log_collector_to_stdout_by_default(
    pipelines_dir: str, bucket: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _pipeline(pipelines_dir, bucket, "log").run([{"id": 1}], table_name="t")
    out = capsys.readouterr().out
    assert " Extract prog ".center(80, "-") in out
    assert "Memory usage: " in out and "| CPU usage: " in out  # psutil is installed for tests


def test_log_collector_without_psutil_warns_and_leaves_the_line_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil raises ImportError
    out = io.StringIO()
    with pytest.warns(UserWarning, match="psutil"):
        collector = quiver.progress.log(logger=out)
    with collector("Extract x"):
        collector.update("t", 5)
    assert "t: 5" in out.getvalue() and "Memory usage" not in out.getvalue()


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"log_period": -1}, "log_period"),
        ({"logger": "stderr"}, "logger"),
        ({"logger": 3}, "logger"),
    ],
)
def test_log_collector_rejects_bad_options(options: dict[str, Any], option: str) -> None:
    with pytest.raises(InvalidProgressOption, match=f"{option}="):
        quiver.progress.log(**options, dump_system_stats=False)


# ------------------------------------------------------------------ bar libraries
@pytest.mark.parametrize(
    ("name", "module", "package"),
    [
        ("tqdm", "tqdm", "tqdm"),
        ("enlighten", "enlighten", "enlighten"),
        ("alive_progress", "alive_progress", "alive-progress"),
    ],
)
def test_missing_bar_library_names_the_extra(
    pipelines_dir: str, monkeypatch: pytest.MonkeyPatch, name: str, module: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError) as raised:
        getattr(quiver.progress, name)()
    assert isinstance(raised.value, ImportError)
    assert repr(package) in str(raised.value) and "pip install 'quiver[progress]'" in str(
        raised.value
    )
    with pytest.raises(MissingDependencyError):
        quiver.pipeline("nolib", pipelines_dir=pipelines_dir, progress=name)


def test_import_quiver_does_not_import_the_bar_libraries() -> None:
    code = (
        "import sys, quiver\n"
        "print(sorted(m for m in ('tqdm', 'enlighten', 'alive_progress', 'psutil', 'blessed')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_bar_collectors_outside_a_terminal_do_not_break_a_run(
    pipelines_dir: str, bucket: Path
) -> None:
    # Under pytest stdout is not a terminal: the libraries draw (or not) on their own terms.
    for name in ("tqdm", "enlighten", "alive_progress"):
        info = _pipeline(pipelines_dir, bucket, name, name=f"bars_{name}").run(
            [{"id": 1}], table_name="t"
        )
        assert info is not None and not info.has_failed_jobs


def _last_block(lines: list[str], step: str) -> list[str]:
    header = f" {step} ".center(80, "-")
    start = max(i for i, line in enumerate(lines) if line == header)
    block = []
    for line in lines[start + 1 :]:
        if not line or line.startswith("-----"):
            break
        block.append(line)
    return block


# ------------------------------------------------------------------ in a terminal
TERMINAL_SCRIPT = textwrap.dedent(
    """
    import subprocess, sys
    import pyarrow as pa
    import quiver

    kind, pipelines_dir, bucket, socket = sys.argv[1:5]
    # Library options pass through; redraw on every update so the paused screen is current.
    collectors = {
        "tqdm": lambda: quiver.progress.tqdm(mininterval=0),
        "enlighten": lambda: quiver.progress.enlighten(min_delta=0),
        "alive_progress": lambda: quiver.progress.alive_progress(),
    }

    @quiver.resource(table_name="items")
    def items():
        yield pa.table({"id": list(range(100))})
        # The test reads the screen now, then lets the run go on.
        subprocess.run(["tmux", "-L", socket, "wait-for", "go"], check=True)
        yield pa.table({"id": list(range(100, 150))})

    pipeline = quiver.pipeline(
        "term", pipelines_dir=pipelines_dir, progress=collectors[kind](),
        destination=quiver.destinations.filesystem(bucket_url=bucket),
    )
    pipeline.run(items())
    print("ROWS", pipeline.last_trace.last_normalize_info.row_counts)
    """
)


class Terminal:
    """A tmux server of its own with one 150x40 window running a command."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = f"quiver-test-{uuid.uuid4().hex[:8]}"
        self.tmp_path = tmp_path

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def start(self, command: str) -> None:
        # The pane stays after the command ends (cat waits on the terminal) so it can be read.
        self.tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "150",
            "-y",
            "40",
            f"{command}; echo __EXIT__$?; cat",
        )

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, done: Callable[[str], bool], what: str, timeout: float = 60) -> str:
        """Read the screen until ``done(screen)``; the program draws on its own threads."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if done(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal never showed {what}:\n{screen}")
            time.sleep(0.05)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed for the terminal tests: apt-get install -y tmux (.ci/run does)")
    term = Terminal(tmp_path)
    yield term
    term.close()


def _run_in_terminal(
    terminal: Terminal, kind: str, tmp_path: Path, paused_shows: str
) -> tuple[str, str]:
    """The screen while the run waits after its first batch, and at the end."""
    script = tmp_path / "progress_script.py"
    script.write_text(TERMINAL_SCRIPT)
    terminal.start(
        f"{sys.executable} {script} {kind} {tmp_path / 'pipelines'} {tmp_path / 'lake'} "
        f"{terminal.socket}"
    )
    paused = terminal.wait_for(lambda s: paused_shows in s or "__EXIT__" in s, paused_shows)
    terminal.tmux("wait-for", "-S", "go")
    ended = terminal.wait_for(lambda s: "__EXIT__" in s, "the end of the run")
    assert "__EXIT__0" in ended, ended
    assert "ROWS {'items': 150}" in ended.replace("\n", ""), ended
    return paused, ended


@pytest.mark.slow
def test_tqdm_bars_in_a_terminal(terminal: Terminal, tmp_path: Path) -> None:
    paused, ended = _run_in_terminal(terminal, "tqdm", tmp_path, "items: 100it")
    # While extracting: the step's first bar is titled with the step; a bar per table.
    assert "Extract term: Resources:" in paused and "0/1" in paused
    assert "items: 100it" in paused
    # tqdm bars are removed when their step ends (leave=False, as in dlt)
    assert "Resources" not in ended


@pytest.mark.slow
def test_enlighten_bars_in_a_terminal(terminal: Terminal, tmp_path: Path) -> None:
    paused, ended = _run_in_terminal(terminal, "enlighten", tmp_path, "items 100 ")
    assert "Extract term" in paused and "items 100 " in paused
    # enlighten keeps every step: a status bar per step, a counter per table, files, jobs.
    for text in ("Extract term", "Normalize term in", "Load term in", "items 150 "):
        assert text in ended, ended
    assert "Resources 100%|" in ended and "1/1" in ended
    assert "Files 100%|" in ended and "Jobs 100%|" in ended and "Commits 100%|" in ended


@pytest.mark.slow
def test_alive_progress_bars_in_a_terminal(terminal: Terminal, tmp_path: Path) -> None:
    paused, ended = _run_in_terminal(terminal, "alive_progress", tmp_path, "Resources")
    assert "Extract term: Resources |" in paused and "0/1" in paused
    assert "Extract term: Resources |" in ended and "1/1 [100%]" in ended
    assert "Normalize term in " in ended and ": Files |" in ended
    assert "Load term in " in ended and ": Jobs |" in ended
