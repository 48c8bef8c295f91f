"""Row ids: random root ids and deterministic, batch-independent child ids."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa

from quiver.schema.row_ids import ID_LENGTH, child_row_ids, random_row_ids

B64 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def test_random_ids_are_unique_base64_of_dlt_length() -> None:
    ids = random_row_ids(200_000).to_pylist()
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {ID_LENGTH} == {14}
    assert set("".join(ids[:1000])) <= B64


def test_child_id_depends_on_parent_table_and_position_only() -> None:
    parents = pa.array(["AAAAAAAAAAAAAA", "AAAAAAAAAAAAAA", "BBBBBBBBBBBBBB"])
    ids = child_row_ids(parents, "t__items", np.array([0, 1, 0])).to_pylist()
    assert len(set(ids)) == 3
    # The same (parent, position) in another batch, next to strings of other lengths.
    alone = child_row_ids(
        pa.array(["BBBBBBBBBBBBBB", "x" * 40, "é"]), "t__items", np.array([0, 5, 2])
    )
    assert alone.to_pylist()[0] == ids[2]
    # Another table or position gives another id.
    assert child_row_ids(parents[2:], "t__other", np.array([0])).to_pylist()[0] != ids[2]
    assert child_row_ids(parents[2:], "t__items", np.array([1])).to_pylist()[0] != ids[2]


def test_child_ids_are_stable_across_processes() -> None:
    code = (
        "import numpy as np, pyarrow as pa\n"
        "from quiver.schema.row_ids import child_row_ids\n"
        "print(','.join(child_row_ids(pa.array(['p1', 'a much longer parent id']), 'tbl',"
        " np.array([3, 7])).to_pylist()))\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    here = ",".join(
        child_row_ids(
            pa.array(["p1", "a much longer parent id"]), "tbl", np.array([3, 7])
        ).to_pylist()
    )
    assert runs == {here + "\n"}


def test_no_collisions_over_many_children() -> None:
    parents = random_row_ids(50_000)
    repeated = pa.array(np.repeat(np.array(parents.to_pylist(), dtype=object), 4).tolist())
    positions = np.tile(np.arange(4), 50_000)
    ids = child_row_ids(repeated, "t__c", positions).to_pylist()
    assert len(set(ids)) == 200_000
