"""``pipeline_salt`` and its anonymization helper; ``staging`` is tested in test_staging.py.

From dlt: ``pipeline_salt`` is "a random value used for deterministic hashing during data
anonymization. Defaults to a value derived from the pipeline name. Default value should not be
used for any cryptographic purposes." (``dlt.pipeline`` docstring); the default is
``digest256(pipeline_name)``: base64 of the sha3-256 digest (``dlt/pipeline/configuration.py``,
``dlt/common/utils.py``). It can be configured (``pipelines.<name>.pipeline_salt`` or
``pipeline_salt``). quiver's helper, ``Pipeline.anonymize``, is HMAC-SHA256 keyed with the
salt, as docs/refresh.md documents.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import quiver


def test_default_salt_is_dlts_digest_of_the_pipeline_name(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline("salty", pipelines_dir=pipelines_dir)
    expected = base64.b64encode(hashlib.sha3_256(b"salty").digest()).decode("ascii")
    assert pipeline.pipeline_salt == expected


def test_salt_from_argument_then_config(
    pipelines_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_SALT", "from-config")
    assert quiver.pipeline("a", pipelines_dir=pipelines_dir).pipeline_salt == "from-config"
    monkeypatch.setenv("PIPELINES__B__PIPELINE_SALT", "for-b-only")
    assert quiver.pipeline("b", pipelines_dir=pipelines_dir).pipeline_salt == "for-b-only"
    explicit = quiver.pipeline("b", pipelines_dir=pipelines_dir, pipeline_salt="given")
    assert explicit.pipeline_salt == "given"


def test_anonymize_is_hmac_sha256_keyed_with_the_salt(pipelines_dir: str) -> None:
    pipeline = quiver.pipeline("anon", pipelines_dir=pipelines_dir, pipeline_salt="s3cret")
    expected = hmac.new(b"s3cret", b"alice@example.com", hashlib.sha256).hexdigest()
    assert pipeline.anonymize("alice@example.com") == expected
    # Deterministic across pipeline instances; another salt gives another pseudonym.
    again = quiver.pipeline("anon", pipelines_dir=pipelines_dir, pipeline_salt="s3cret")
    assert again.anonymize("alice@example.com") == expected
    other = quiver.pipeline("other", pipelines_dir=pipelines_dir, pipeline_salt="pepper")
    assert other.anonymize("alice@example.com") != expected
    # None stays None; values are hashed as text, so 42 and "42" join.
    assert pipeline.anonymize(None) is None
    assert pipeline.anonymize(42) == pipeline.anonymize("42")
    assert pipeline.anonymize(b"raw") == hmac.new(b"s3cret", b"raw", hashlib.sha256).hexdigest()


def test_anonymize_in_a_resource_map_during_a_run(pipelines_dir: str, bucket: Path) -> None:
    pipeline = quiver.pipeline(
        "pii",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="ds",
        pipeline_salt="s3cret",
    )

    def hide_email(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "email": quiver.current.pipeline().anonymize(row["email"])}

    people = quiver.resource(
        [{"id": 1, "email": "alice@example.com"}, {"id": 2, "email": None}], name="people"
    ).add_map(hide_email)
    pipeline.run(people)

    emails = pl.read_delta(str(bucket / "ds" / "people")).sort("id")["email"].to_list()
    assert emails == [hmac.new(b"s3cret", b"alice@example.com", hashlib.sha256).hexdigest(), None]
