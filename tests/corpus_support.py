"""Support for the bad-input corpus: independent table readers and the outcome summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.readers import metadata_version, s3_delta_options, s3_iceberg_properties


@dataclass(frozen=True)
class LakeReader:
    """Reads a table that quiver wrote with deltalake or pyiceberg (never quiver).

    Attributes:
        table_format: ``"delta"`` or ``"iceberg"``.
        bucket_url: ``file://...`` or ``s3://...``.
        dataset: The dataset folder (Iceberg namespace).
        endpoint_url: The S3 server, for ``s3://`` buckets.
        sql_uri: An Iceberg SqlCatalog to read through instead of the metadata files.
    """

    table_format: str
    bucket_url: str
    dataset: str
    endpoint_url: str | None = None
    sql_uri: str | None = None

    def rows(self, table: str) -> list[dict[str, Any]] | None:
        """The table's rows (with ``_dlt_*`` columns), or ``None`` if there is no table."""
        arrow = self._delta(table) if self.table_format == "delta" else self._iceberg(table)
        return None if arrow is None else arrow.to_pylist()

    def dataset_folder(self) -> Path | None:
        """The dataset's folder on local disk (``None`` on S3)."""
        if not self.bucket_url.startswith("file://"):
            return None
        return Path(self.bucket_url.removeprefix("file://")) / self.dataset

    def _url(self, table: str) -> str:
        return f"{self.bucket_url}/{self.dataset}/{table}"

    def _delta(self, table: str) -> Any:
        import pyarrow as pa
        from deltalake import DeltaTable, QueryBuilder

        options = self._delta_options()
        if not DeltaTable.is_deltatable(self._url(table), storage_options=options):
            return None
        delta = DeltaTable(self._url(table), storage_options=options)
        result = QueryBuilder().register("t", delta).execute("select * from t")
        return pa.RecordBatchReader.from_stream(result).read_all()

    def _delta_options(self) -> dict[str, str] | None:
        return s3_delta_options(self.endpoint_url) if self.bucket_url.startswith("s3://") else None

    def _iceberg(self, table: str) -> Any:
        if self.sql_uri is not None:
            from pyiceberg.catalog.sql import SqlCatalog

            catalog = SqlCatalog("default", uri=self.sql_uri)
            if not catalog.table_exists((self.dataset, table)):
                return None
            return catalog.load_table((self.dataset, table)).scan().to_arrow()
        from pyiceberg.table import StaticTable

        metadata = self._newest_metadata(table)
        if metadata is None:
            return None
        static = StaticTable.from_metadata(metadata, properties=self._iceberg_properties())
        return static.scan().to_arrow()

    def _iceberg_properties(self) -> dict[str, str]:
        return (
            s3_iceberg_properties(self.endpoint_url) if self.bucket_url.startswith("s3://") else {}
        )

    def _newest_metadata(self, table: str) -> str | None:
        import fsspec

        if self.bucket_url.startswith("s3://"):
            fs = fsspec.filesystem(
                "s3",
                key="testing",
                secret="testing",
                endpoint_url=self.endpoint_url,
                skip_instance_cache=True,
                use_listings_cache=False,
            )
            folder = self._url(table).removeprefix("s3://") + "/metadata"
        else:
            fs = fsspec.filesystem("file")
            folder = self._url(table).removeprefix("file://") + "/metadata"
        if not fs.exists(folder):
            return None
        names = [p for p in fs.ls(folder, detail=False) if p.endswith(".metadata.json")]
        if not names:
            return None
        newest = max(names, key=metadata_version)
        return f"s3://{newest}" if self.bucket_url.startswith("s3://") else newest


OUTCOME_PROPERTY = "corpus_outcome"


@dataclass
class CorpusOutcome:
    """Records one corpus test's outcome on its report, so that the process that prints the
    terminal summary sees it also when the tests ran on xdist workers."""

    node: Any

    def start(self, test_id: str) -> None:
        """Nothing to do: a test that never calls :meth:`finish` counts as ``other``."""

    def finish(self, test_id: str, outcome: str) -> None:
        self.node.user_properties.append((OUTCOME_PROPERTY, outcome))


def corpus_summary(request: pytest.FixtureRequest) -> CorpusOutcome:
    """Where a corpus test records its outcome (``ok``, ``clear error``; ``other`` if none)."""
    return CorpusOutcome(request.node)


@dataclass
class CorpusSummary:
    """Outcome per corpus test: ``ok``, ``clear error`` or ``other`` (failed or a known gap).

    Registered by ``tests/conftest.py``; it reads the outcome each corpus test put on its
    report, on the controller when xdist runs the tests on workers."""

    outcomes: dict[str, str] = field(default_factory=dict)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" or "test_bad_input_corpus.py::" not in report.nodeid:
            return
        recorded = dict(report.user_properties).get(OUTCOME_PROPERTY)
        self.outcomes[report.nodeid] = str(recorded) if recorded else "other"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.outcomes:
            return
        counts = Counter(self.outcomes.values())
        terminalreporter.write_sep("-", "bad-input corpus (issue 14)")
        terminalreporter.write_line(
            f"{len(self.outcomes)} case runs: {counts['ok']} ok, "
            f"{counts['clear error']} clear error, {counts['other']} other"
        )
        others = sorted(k for k, v in self.outcomes.items() if v == "other")
        if others:
            terminalreporter.write_line("other: " + ", ".join(others))
