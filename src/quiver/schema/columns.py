"""Names that quiver (and dlt) reserve in a dataset: lineage columns, sidecar tables, scd2 defaults.

One definition each; every stage imports them from here.
"""

from __future__ import annotations

from typing import Final

#: A row's unique id (random, or a hash of the key / row for merge and scd2 tables).
C_DLT_ID: Final = "_dlt_id"
#: The load package a root row came in.
C_DLT_LOAD_ID: Final = "_dlt_load_id"
#: A child row's parent ``_dlt_id``.
C_DLT_PARENT_ID: Final = "_dlt_parent_id"
#: A child row's position in its parent's list.
C_DLT_LIST_IDX: Final = "_dlt_list_idx"
#: A child row's root ``_dlt_id`` (merge tables and ``root_key``).
C_DLT_ROOT_ID: Final = "_dlt_root_id"

#: scd2 validity columns when ``validity_column_names`` is not given.
DEFAULT_VALID_FROM: Final = "_dlt_valid_from"
DEFAULT_VALID_TO: Final = "_dlt_valid_to"
DEFAULT_VALIDITY_COLUMN_NAMES: Final = (DEFAULT_VALID_FROM, DEFAULT_VALID_TO)

#: Sidecar tables written last for a package.
LOADS_TABLE: Final = "_dlt_loads"
VERSION_TABLE: Final = "_dlt_version"
STATE_TABLE: Final = "_dlt_pipeline_state"
