"""The bad-input corpus of issue 14: every case, in the order the harness runs them."""

from __future__ import annotations

from tests.bad_input_model import TABLE, Case, Tables
from tests.bad_input_types import (
    arrow_type_cases,
    hint_cases,
    incremental_cases,
    location_cases,
    merge_cases,
)
from tests.bad_input_values import empty_cases, name_cases, nesting_cases, string_cases, type_cases

__all__ = ["CASES", "TABLE", "Case", "Tables"]

CASES: list[Case] = [
    *type_cases(),
    *string_cases(),
    *name_cases(),
    *empty_cases(),
    *nesting_cases(),
    *arrow_type_cases(),
    *hint_cases(),
    *merge_cases(),
    *incremental_cases(),
    *location_cases(),
]
