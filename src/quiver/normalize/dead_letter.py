"""Dead-letter files: the rows a schema contract discarded, kept in the load package.

``discard_row`` and ``discard_value`` never lose data silently: the affected rows, as they were
before coercion (normalized names, original values), go to
``<package>/discarded/<table>.<file_id>.parquet`` with three extra columns that say why
(``_dlt_contract_entity``, ``_dlt_contract_mode``, ``_dlt_contract_column``). The files travel
with the package to ``loaded/`` and are never loaded into the dataset.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from quiver.package.ids import uniq_id

DEAD_LETTER_FOLDER = "discarded"


class DeadLetterWriter:
    """Parquet files of discarded rows, one per table (a new file when the columns change)."""

    def __init__(self, package: Path) -> None:
        self._folder = package / DEAD_LETTER_FOLDER
        self._writers: dict[str, tuple[pq.ParquetWriter, pa.Schema]] = {}
        self.files: list[Path] = []

    def write(self, table_name: str, rows: pa.Table) -> None:
        if rows.num_rows == 0:
            return
        current = self._writers.get(table_name)
        if current is None or not current[1].equals(rows.schema):
            if current is not None:
                current[0].close()
            self._folder.mkdir(parents=True, exist_ok=True)
            path = self._folder / f"{table_name}.{uniq_id(10)}.parquet"
            current = (pq.ParquetWriter(str(path), rows.schema, compression="zstd"), rows.schema)
            self._writers[table_name] = current
            self.files.append(path)
        current[0].write_table(rows)

    def close(self) -> None:
        for writer, _ in self._writers.values():
            writer.close()
        self._writers.clear()


def read_dead_letters(package: Path, table_name: str | None = None) -> pa.Table | None:
    """All discarded rows of a package (optionally of one table), or None if there are none."""
    folder = package / DEAD_LETTER_FOLDER
    if not folder.exists():
        return None
    paths = sorted(
        p
        for p in folder.glob("*.parquet")
        if table_name is None or p.name.split(".")[0] == table_name
    )
    if not paths:
        return None
    return pa.concat_tables([pq.read_table(p) for p in paths], promote_options="permissive")


__all__ = ["DEAD_LETTER_FOLDER", "DeadLetterWriter", "read_dead_letters"]
