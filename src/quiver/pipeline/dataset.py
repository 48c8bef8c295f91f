"""Reading a pipeline's dataset back: ``pipeline.dataset()``, as dlt's ``Dataset`` and ``Relation``.

Tables are read only through the :class:`~quiver.destinations.base.TableFormat` protocol
(``scan`` streams record batches, ``row_count`` reads the table's metadata), so Delta, Iceberg
and plain files on any filesystem read the same way. Nothing is read until a result is asked
for, and what is asked for streams: ``iter_arrow``, ``to_reader`` and ``pl()`` hold one batch
at a time; ``arrow()`` and ``df()`` without ``chunk_size`` hold the whole result (the caller
asked for it).

SQL over several tables runs in DuckDB (optional: ``pip install 'quiver[duckdb]'``): each table
the query names is registered as an Arrow stream, which DuckDB pulls batch by batch.

Examples:
    >>> import quiver, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> pipeline = quiver.pipeline(
    ...     "dataset_doc",
    ...     pipelines_dir=folder,
    ...     destination=quiver.destinations.filesystem(bucket_url=folder + "/lake"),
    ... )
    >>> _ = pipeline.run([{"id": 1}, {"id": 2}], table_name="items")
    >>> dataset = pipeline.dataset()
    >>> dataset.items.arrow().num_rows
    2
    >>> dataset.row_counts().fetchall()
    [('items', 2)]
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from quiver.destinations.base import TableFormat, canonical_table_format, load_table_format
from quiver.destinations.filesystem import FilesystemDestination
from quiver.errors import (
    DatasetQueryError,
    MissingDependencyError,
    PipelineConfigMissing,
    SchemaNotFound,
    TableNotFound,
)
from quiver.schema.columns import C_DLT_LOAD_ID, LOADS_TABLE, STATE_TABLE, VERSION_TABLE
from quiver.schema.model import Schema

if TYPE_CHECKING:
    import duckdb
    import pandas
    import polars

    from quiver.pipeline.pipeline import Pipeline

__all__ = ["Dataset", "Relation", "open_dataset"]

#: dlt's system tables, in the order dlt lists them.
DLT_TABLES = (VERSION_TABLE, LOADS_TABLE, STATE_TABLE)


def _optional(module: str, extra: str, feature: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(module, extra, feature) from error


def _rechunk(batches: Iterator[pa.RecordBatch], schema: pa.Schema, size: int) -> Iterator[pa.Table]:
    """Tables of exactly ``size`` rows (the last may be smaller) from a stream of batches."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - rows, batch.num_rows)
            pending.append(batch.slice(0, take))
            rows += take
            batch = batch.slice(take)
            if rows == size:
                yield pa.Table.from_batches(pending, schema)
                pending, rows = [], 0
    if rows:
        yield pa.Table.from_batches(pending, schema)


def _limited(batches: Iterator[pa.RecordBatch], limit: int) -> Iterator[pa.RecordBatch]:
    """At most ``limit`` rows; stops pulling from the source once they are read."""
    left = limit
    if left <= 0:
        return
    for batch in batches:
        yield batch.slice(0, left)
        left -= batch.num_rows
        if left <= 0:
            return


class Relation(ABC):
    """A lazy result: a table of the dataset, a SQL query over it, or a small computed table.

    Nothing is read until one of the reading methods is called; each call reads again, so a
    relation always shows the dataset's current data.
    """

    def __init__(self, columns: Sequence[str] | None = None, limit: int | None = None) -> None:
        self._columns = list(columns) if columns is not None else None
        self._limit = limit

    # ------------------------------------------------------------ to override
    @abstractmethod
    def _batches(self) -> pa.RecordBatchReader:
        """The relation's rows as an Arrow stream (columns and limit not applied yet)."""

    @abstractmethod
    def _copy(self, columns: Sequence[str] | None, limit: int | None) -> Relation:
        """The same relation with other columns and limit."""

    # ------------------------------------------------------------- shaping
    def select(self, *columns: str) -> Relation:
        """A relation with only ``columns`` (read as such: other columns are not read)."""
        return self._copy(list(columns), self._limit)

    def __getitem__(self, columns: str | Sequence[str]) -> Relation:
        return self.select(*([columns] if isinstance(columns, str) else columns))

    def limit(self, limit: int) -> Relation:
        """A relation with at most ``limit`` rows; reading stops once they are read."""
        return self._copy(self._columns, limit if self._limit is None else min(limit, self._limit))

    def head(self, limit: int = 5) -> Relation:
        """The first ``limit`` rows (5 by default)."""
        return self.limit(limit)

    # ------------------------------------------------------------- reading
    def to_reader(self) -> pa.RecordBatchReader:
        """The rows as a ``pyarrow.RecordBatchReader``: one batch in memory at a time."""
        reader = self._batches()
        schema = reader.schema
        if self._columns is not None and schema.names != self._columns:
            schema = pa.schema([schema.field(name) for name in self._columns])
            batches: Iterator[pa.RecordBatch] = (b.select(self._columns) for b in reader)
        else:
            batches = iter(reader)
        if self._limit is not None:
            batches = _limited(batches, self._limit)
        return pa.RecordBatchReader.from_batches(schema, batches)

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The Arrow PyCapsule stream interface: polars, DuckDB, pyarrow and quiver itself read
        a relation directly (``quiver.run(dataset.items, ...)``)."""
        return self.to_reader().__arrow_c_stream__(requested_schema)

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of the result (reads metadata, not data)."""
        return self.to_reader().schema

    @property
    def columns(self) -> list[str]:
        """The column names of the result."""
        return list(self.arrow_schema.names)

    def arrow(self, chunk_size: int | None = None) -> pa.Table:
        """The rows as a ``pyarrow.Table``: all of them, or the first ``chunk_size``."""
        if chunk_size is not None:
            return next(iter(self.iter_arrow(chunk_size)), self.to_reader().schema.empty_table())
        return self.to_reader().read_all()

    def iter_arrow(self, chunk_size: int) -> Iterator[pa.Table]:
        """``pyarrow.Table`` chunks of ``chunk_size`` rows, read as they are consumed."""
        reader = self.to_reader()
        return _rechunk(iter(reader), reader.schema, chunk_size)

    def df(self, chunk_size: int | None = None) -> pandas.DataFrame:
        """The rows as a pandas DataFrame (needs ``quiver[pandas]``)."""
        _optional("pandas", "pandas", "Relation.df()")
        return self.arrow(chunk_size).to_pandas()

    def iter_df(self, chunk_size: int) -> Iterator[pandas.DataFrame]:
        """pandas DataFrames of ``chunk_size`` rows (needs ``quiver[pandas]``)."""
        _optional("pandas", "pandas", "Relation.iter_df()")
        return (table.to_pandas() for table in self.iter_arrow(chunk_size))

    def pl(self) -> polars.LazyFrame:
        """A polars ``LazyFrame``: nothing is read until it is collected; polars' projection
        (the columns it needs) and row limit reach the scan."""
        import polars as pl
        from polars.io.plugins import register_io_source

        schema = pl.Schema(pl.from_arrow(self.arrow_schema.empty_table()).schema)  # type: ignore[union-attr]

        def source(
            with_columns: list[str] | None,
            predicate: pl.Expr | None,
            n_rows: int | None,
            batch_size: int | None,
        ) -> Iterator[pl.DataFrame]:
            relation = self if with_columns is None else self.select(*with_columns)
            if n_rows is not None:
                relation = relation.limit(n_rows)
            for batch in relation.to_reader():
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                yield frame if predicate is None else frame.filter(predicate)

        return register_io_source(source, schema=schema)

    def duckdb(
        self, connection: duckdb.DuckDBPyConnection | None = None
    ) -> duckdb.DuckDBPyRelation:
        """A DuckDB relation over this one (needs ``quiver[duckdb]``); DuckDB pulls the Arrow
        stream when it runs, and again each time it runs."""
        duckdb = _optional("duckdb", "duckdb", "Relation.duckdb()")
        return (connection or duckdb.connect()).from_arrow(self)

    def fetchall(self) -> list[tuple[Any, ...]]:
        """All rows as tuples."""
        return [row for chunk in self.iter_fetch(65536) for row in chunk]

    def fetchmany(self, chunk_size: int) -> list[tuple[Any, ...]]:
        """The first ``chunk_size`` rows as tuples."""
        return next(iter(self.iter_fetch(chunk_size)), [])

    def fetchone(self) -> tuple[Any, ...] | None:
        """The first row as a tuple, or ``None``."""
        rows = self.fetchmany(1)
        return rows[0] if rows else None

    def iter_fetch(self, chunk_size: int) -> Iterator[list[tuple[Any, ...]]]:
        """Lists of at most ``chunk_size`` rows as tuples."""
        for table in self.iter_arrow(chunk_size):
            columns = [column.to_pylist() for column in table.columns]
            yield list(zip(*columns, strict=True))


class TableRelation(Relation):
    """One table of the dataset, read through its table format."""

    def __init__(
        self,
        dataset: Dataset,
        table_name: str,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(columns, limit)
        self.dataset = dataset
        self.table_name = table_name

    def _batches(self) -> pa.RecordBatchReader:
        return self.dataset._scan(self.table_name, self._columns)

    def _copy(self, columns: Sequence[str] | None, limit: int | None) -> Relation:
        return TableRelation(self.dataset, self.table_name, columns, limit)

    def __repr__(self) -> str:
        return f"<Relation table={self.table_name!r} dataset={self.dataset.dataset_name!r}>"


class QueryRelation(Relation):
    """A DuckDB SQL query over tables of the dataset."""

    def __init__(
        self,
        dataset: Dataset,
        query: str,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(columns, limit)
        self.dataset = dataset
        self.query = query

    def _batches(self) -> pa.RecordBatchReader:
        duckdb = _optional("duckdb", "duckdb", "SQL queries over a dataset")
        connection = self.dataset.duckdb_connection(self.query)
        try:
            relation = connection.sql(self.query)
            if self._limit is not None:
                relation = relation.limit(self._limit)
            reader = relation.to_arrow_reader(65536)
        except duckdb.Error as error:
            connection.close()
            raise DatasetQueryError(self.query, str(error).splitlines()[0]) from error

        def batches() -> Iterator[pa.RecordBatch]:
            # The reader needs its connection alive until it is exhausted.
            with connection:
                yield from reader

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def _copy(self, columns: Sequence[str] | None, limit: int | None) -> Relation:
        return QueryRelation(self.dataset, self.query, columns, limit)

    def __repr__(self) -> str:
        return f"<Relation query={self.query!r} dataset={self.dataset.dataset_name!r}>"


class ArrowRelation(Relation):
    """A small table computed in memory (``row_counts``)."""

    def __init__(
        self, table: pa.Table, columns: Sequence[str] | None = None, limit: int | None = None
    ) -> None:
        super().__init__(columns, limit)
        self._table = table

    def _batches(self) -> pa.RecordBatchReader:
        return self._table.to_reader()

    def _copy(self, columns: Sequence[str] | None, limit: int | None) -> Relation:
        return ArrowRelation(self._table, columns, limit)


class Dataset:
    """The tables a pipeline loaded, read back from the destination.

    Get one with ``pipeline.dataset()``. Tables are ``dataset.<name>``, ``dataset["name"]`` or
    ``dataset.table("name")``; a SQL query over any of them is ``dataset("select ...")``.

    Args:
        destination: Where the tables are.
        dataset_name: The dataset folder below the destination's bucket.
        schemas: The schemas whose tables are read (the first is the default).
        app_id: The pipeline's id (the table formats are opened as the loader opens them).
    """

    def __init__(
        self,
        destination: FilesystemDestination,
        dataset_name: str,
        schemas: Sequence[Schema],
        app_id: str,
    ) -> None:
        self._destination = destination
        self._dataset_name = dataset_name
        self._schemas = list(schemas)
        self._app_id = app_id
        self._formats: dict[str, TableFormat] = {}

    # ------------------------------------------------------------ metadata
    @property
    def dataset_name(self) -> str:
        """The dataset's name (its folder below the bucket)."""
        return self._dataset_name

    @property
    def schema(self) -> Schema | None:
        """The default schema, or ``None`` before the pipeline extracted anything."""
        return self._schemas[0] if self._schemas else None

    @property
    def schemas(self) -> tuple[Schema, ...]:
        return tuple(self._schemas)

    @property
    def tables(self) -> list[str]:
        """Data tables that received data, then dlt's system tables (as dlt lists them)."""
        return self._data_tables() + list(DLT_TABLES)

    def _data_tables(self) -> list[str]:
        names: list[str] = []
        for schema in self._schemas:
            names += [
                t["name"]
                for t in schema.data_tables()
                if not schema.is_new_table(t["name"]) and t["name"] not in names
            ]
        return names

    def _ipython_key_completions_(self) -> list[str]:
        return self.tables

    def _table_format(self, table_name: str) -> TableFormat:
        hinted = next(
            (
                s.table_hint(table_name, "table_format")
                for s in self._schemas
                if table_name in s.tables
            ),
            None,
        )
        name = canonical_table_format(hinted or self._destination.table_format)
        if name not in self._formats:
            location = self._destination.location().join(self._dataset_name)
            options = self._destination.table_format_options(name)
            self._formats[name] = load_table_format(name, location, self._app_id, **options)
        return self._formats[name]

    def _scan(self, table_name: str, columns: Sequence[str] | None) -> pa.RecordBatchReader:
        reader = self._table_format(table_name).scan(table_name, columns)
        if reader is None:
            location = self._destination.location().join(self._dataset_name).url
            raise TableNotFound.not_loaded(table_name, self._dataset_name, location)
        return reader

    # -------------------------------------------------------------- tables
    def table(self, table_name: str) -> Relation:
        """The table ``table_name`` as a lazy relation.

        Raises:
            TableNotFound: The schema has no such table (a ``ValueError`` and ``KeyError``).
        """
        if table_name not in self.tables:
            raise TableNotFound.not_in_schema(table_name, self._dataset_name, self.tables)
        return TableRelation(self, table_name)

    def __getitem__(self, table_name: str) -> Relation:
        return self.table(table_name)

    def __getattr__(self, name: str) -> Relation:
        # Dunders and attributes asked for before __init__ ran (copy, pickle) are not tables.
        if name.startswith("__") or "_schemas" not in self.__dict__:
            raise AttributeError(name)
        try:
            return self.table(name)
        except TableNotFound as error:
            raise AttributeError(str(error)) from error

    # --------------------------------------------------------------- counts
    def row_counts(
        self,
        *,
        data_tables: bool = True,
        dlt_tables: bool = False,
        table_names: Sequence[str] | None = None,
        load_id: str | None = None,
    ) -> Relation:
        """Rows per table, as a relation with columns ``table_name`` and ``row_count``.

        Counts come from each table's metadata (Delta file statistics, Iceberg snapshot
        summaries, parquet footers), so no data is read; a table the destination does not have
        yet counts 0. With ``load_id``, only tables with a ``_dlt_load_id`` column are counted,
        and only their rows of that load (that column alone is read).

        Args:
            data_tables: Count the tables that received data.
            dlt_tables: Count dlt's system tables (``_dlt_loads``, ...).
            table_names: Count these tables (overrides the two flags).
            load_id: Count only the rows of this load package.
        """
        selected = list(table_names or [])
        if not selected:
            selected = (self._data_tables() if data_tables else []) + (
                list(DLT_TABLES) if dlt_tables else []
            )
        for name in selected:
            if name not in self.tables:
                raise TableNotFound.not_in_schema(name, self._dataset_name, self.tables)
        if load_id is not None:
            selected = [name for name in selected if self._has_load_id_column(name)]
        counts = [self._count(name, load_id) for name in selected]
        return ArrowRelation(
            pa.table(
                {
                    "table_name": pa.array(selected, pa.string()),
                    "row_count": pa.array(counts, pa.int64()),
                }
            )
        )

    def _has_load_id_column(self, table_name: str) -> bool:
        return any(
            C_DLT_LOAD_ID in (s.tables.get(table_name) or {}).get("columns", {})
            for s in self._schemas
        )

    def _count(self, table_name: str, load_id: str | None) -> int:
        table_format = self._table_format(table_name)
        if load_id is None:
            return table_format.row_count(table_name) or 0
        import pyarrow.compute as pc

        reader = table_format.scan(table_name, [C_DLT_LOAD_ID])
        if reader is None:
            return 0
        return sum(int(pc.sum(pc.equal(batch.column(0), load_id)).as_py() or 0) for batch in reader)

    def load_ids(self) -> list[str]:
        """Load ids of the packages loaded into the dataset (``_dlt_loads``), oldest first."""
        reader = self._table_format(LOADS_TABLE).scan(LOADS_TABLE, ["load_id"])
        if reader is None:
            return []
        return sorted({str(v) for batch in reader for v in batch.column(0).to_pylist()})

    def latest_load_id(self) -> str | None:
        """The newest load id in ``_dlt_loads``, or ``None``."""
        ids = self.load_ids()
        return ids[-1] if ids else None

    # ----------------------------------------------------------------- SQL
    def query(self, query: str) -> Relation:
        """A SQL query (DuckDB's dialect) over the dataset's tables, as a lazy relation.

        Tables are referenced by name (``items``) or qualified by the dataset name
        (``my_dataset.items``). Only the tables the query names are opened.

        Raises:
            DatasetQueryError: When the query is run, if DuckDB rejects it.
            MissingDependencyError: DuckDB is not installed (``pip install 'quiver[duckdb]'``).
        """
        return QueryRelation(self, query)

    def __call__(self, query: str) -> Relation:
        """Same as :meth:`query`."""
        return self.query(query)

    def duckdb_connection(self, query: str | None = None) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection with the dataset's tables registered as views.

        Args:
            query: Register only the tables this query names (all tables when ``None``).
        """
        engine = _optional("duckdb", "duckdb", "SQL queries over a dataset")
        names = set(self.tables)
        if query is not None:
            try:
                names &= set(engine.get_table_names(query, qualified=False))
            except engine.Error as error:
                raise DatasetQueryError(query, str(error).splitlines()[0]) from error
        connection: duckdb.DuckDBPyConnection = engine.connect()
        schema = _quoted(self._dataset_name)
        connection.execute(f"create schema if not exists {schema}")
        for name in sorted(names):
            if self._table_format(name).table_exists(name):
                connection.register(name, TableRelation(self, name))
                connection.execute(
                    f"create view {schema}.{_quoted(name)} as select * from {_quoted(name)}"
                )
        return connection

    def __repr__(self) -> str:
        return (
            f"<Dataset {self._dataset_name!r} at "
            f"{self._destination.displayable_location()} tables={self.tables}>"
        )


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def open_dataset(pipeline: Pipeline, schema: str | None = None) -> Dataset:
    """The dataset of ``pipeline`` (what ``pipeline.dataset()`` returns).

    Args:
        pipeline: The pipeline; its destination and dataset name say where the tables are.
        schema: Read the tables of this schema only; by default every schema of the pipeline,
            the default schema first.

    Raises:
        PipelineConfigMissing: The pipeline has no destination.
        SchemaNotFound: ``schema`` is not one of the pipeline's schemas.
    """
    if pipeline.destination is None:
        raise PipelineConfigMissing(
            pipeline.pipeline_name,
            "destination",
            "dataset",
            "pass destination= to quiver.pipeline(), or run the pipeline once so its "
            "destination is stored in the working folder.",
        )
    names = list(pipeline.schema_names)
    if schema is not None:
        if schema not in names:
            raise SchemaNotFound(schema, pipeline.pipeline_name, names)
        names = [schema]
    elif pipeline.default_schema_name in names:
        names.remove(pipeline.default_schema_name)
        names.insert(0, pipeline.default_schema_name)
    schemas = pipeline.schemas
    return Dataset(
        pipeline.destination,
        pipeline.dataset_name,
        [schemas[name] for name in names],
        app_id=f"quiver/{pipeline.pipeline_name}",
    )
