"""Pipeline state: resource and source state, versioning, the blob handed to the loader."""

# ruff: noqa: B008  (incremental cursors are declared as argument defaults: that is the API)

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

import quiver
from quiver.errors import StateNotAvailable
from quiver.package import typed_json
from quiver.package.storage import PackageState, PackageStorage
from quiver.pipeline.state import (
    compress_state,
    decompress_state,
    version_hash,
)
from quiver.schema.documents import LocalState, PipelineState, StateRow, StoredDestination
from tests.extract_support import make_pipeline

UTC = datetime.UTC


def _package_states(pipeline: quiver.Pipeline) -> list[dict[str, Any]]:
    states = []
    for stage in ("extracted", "normalized", "loaded"):
        for package in sorted((pipeline.working_dir / stage).iterdir()):
            states.append(json.loads((package / "package_state.json").read_text()))
    return states


def test_resource_and_source_state_persist(pipelines_dir: str) -> None:
    @quiver.source
    def crm():
        @quiver.resource
        def contacts():
            state = quiver.current.resource_state()
            state["page"] = state.get("page", 0) + 1
            quiver.current.source_state()["token"] = f"t{state['page']}"
            yield {"page": state["page"]}

        return contacts

    pipeline = quiver.pipeline("stateful", pipelines_dir=pipelines_dir)
    pipeline.extract(crm())
    pipeline.extract(crm())
    source = pipeline.state["sources"]["crm"]
    assert source["token"] == "t2"
    assert source["resources"]["contacts"] == {"page": 2}
    reopened = quiver.attach("stateful", pipelines_dir=pipelines_dir)
    assert reopened.state["sources"]["crm"]["resources"]["contacts"] == {"page": 2}


def test_source_function_reads_its_state(pipelines_dir: str) -> None:
    seen: list[Any] = []

    @quiver.source
    def reader():
        seen.append(quiver.current.source_state().get("cursor"))

        @quiver.resource
        def rows():
            quiver.current.source_state()["cursor"] = 42
            yield {"a": 1}

        return rows

    pipeline = quiver.pipeline("reader", pipelines_dir=pipelines_dir)
    pipeline.extract(reader())
    pipeline.extract(reader())
    assert seen == [None, 42]
    assert reader().state["cursor"] == 42


def test_resource_state_property_and_typed_values(pipelines_dir: str) -> None:
    moment = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    values = {
        "at": moment,
        "day": datetime.date(2024, 5, 1),
        "amount": decimal.Decimal("1.10"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "raw": b"\x00\xff",
    }

    @quiver.resource
    def typed():
        typed.state.update(values)  # the resource's own state, through the property
        yield {"a": 1}

    pipeline = quiver.pipeline("typed", pipelines_dir=pipelines_dir)
    pipeline.extract(typed)
    reopened = quiver.attach("typed", pipelines_dir=pipelines_dir)
    stored = reopened.state["sources"][reopened.default_schema_name]["resources"]["typed"]
    assert stored == values
    raw = (pipeline.working_dir / "state.json").read_text()
    assert "\uf027" in json.loads(raw)["sources"]["typed"]["resources"]["typed"]["at"]


def test_state_outside_of_a_pipeline() -> None:
    with pytest.raises(StateNotAvailable):
        quiver.current.resource_state()
    with pytest.raises(StateNotAvailable):
        quiver.current.pipeline()


def test_versions_grow_only_with_changes(pipelines_dir: str) -> None:
    @quiver.resource
    def stamp(value: int):
        quiver.current.resource_state()["value"] = value
        yield {"v": value}

    pipeline = quiver.pipeline("versions", pipelines_dir=pipelines_dir)
    pipeline.extract(stamp(1))
    first = pipeline.state["_state_version"], pipeline.state["_version_hash"]
    pipeline.extract(stamp(1))
    assert (pipeline.state["_state_version"], pipeline.state["_version_hash"]) == first
    pipeline.extract(stamp(2))
    assert pipeline.state["_state_version"] == first[0] + 1
    assert pipeline.state["_version_hash"] == version_hash(pipeline.state)


def test_state_document_goes_into_the_package_when_changed(pipelines_dir: str) -> None:
    @quiver.resource
    def stamp(value: int):
        quiver.current.resource_state()["value"] = value
        yield {"v": value}

    pipeline = quiver.pipeline("handoff", pipelines_dir=pipelines_dir)
    pipeline.extract(stamp(1))
    pipeline.extract(stamp(1))
    pipeline.extract(stamp(2))
    states = _package_states(pipeline)
    docs = [s.get("pipeline_state") for s in states]
    assert docs[1] is None  # nothing changed in the second extract
    for doc in (docs[0], docs[2]):
        assert doc is not None
        assert set(doc) == {
            "version",
            "engine_version",
            "pipeline_name",
            "state",
            "created_at",
            "version_hash",
        }
        assert doc["pipeline_name"] == "handoff" and doc["engine_version"] == 4
        assert doc["state"].startswith("eN")  # base64 of zlib
        datetime.datetime.fromisoformat(doc["created_at"])
    restored = decompress_state(docs[2]["state"])  # type: ignore[index]
    assert "_local" not in restored
    assert restored["sources"]["handoff"]["resources"]["stamp"] == {"value": 2}
    assert docs[2]["version"] == pipeline.state["_state_version"]  # type: ignore[index]
    assert docs[2]["version_hash"] == pipeline.state["_version_hash"]  # type: ignore[index]
    assert pipeline.state["_local"]["_last_extracted_hash"] == pipeline.state["_version_hash"]


def test_state_goes_into_the_last_package_of_many_sources(pipelines_dir: str) -> None:
    @quiver.source
    def alpha():
        return quiver.resource([{"a": 1}], name="a")

    @quiver.source
    def beta():
        return quiver.resource([{"b": 1}], name="b")

    pipeline = quiver.pipeline("multi", pipelines_dir=pipelines_dir)
    pipeline.extract([beta(), alpha()])
    states = _package_states(pipeline)
    assert [("pipeline_state" in s) for s in states] == [False, True]


def test_blob_round_trip_and_plain_fallback() -> None:
    state = {
        "_state_version": 3,
        "sources": {"s": {"at": datetime.datetime(2024, 1, 1, tzinfo=UTC)}},
        "_local": {"secret": 1},
    }
    blob = compress_state(state)
    assert decompress_state(blob) == {k: v for k, v in state.items() if k != "_local"}
    assert decompress_state(typed_json.dumps({"a": 1})) == {"a": 1}


def test_state_loads_with_the_data(pipelines_dir: str, bucket: Path) -> None:
    @quiver.resource
    def counted(ts=quiver.sources.incremental("ts", initial_value=0)):
        yield [{"ts": i} for i in range(3)]

    pipeline = make_pipeline(pipelines_dir, bucket)
    info = pipeline.run(counted())
    assert info is not None
    (doc,) = [s["pipeline_state"] for s in _package_states(pipeline) if "pipeline_state" in s]
    restored = decompress_state(doc["state"])
    cursor = restored["sources"]["ext"]["resources"]["counted"]["incremental"]["ts"]
    assert cursor["last_value"] == 2


def _declared(typed_dict: Any) -> set[str]:
    return set(typed_dict.__required_keys__ | typed_dict.__optional_keys__)


def test_written_state_documents_use_only_declared_keys(
    pipelines_dir: str, bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """state.json and package_state.json hold what their TypedDicts say, and nothing else."""

    @quiver.resource(primary_key="id", write_disposition="merge")
    def counted(ts=quiver.sources.incremental("ts", initial_value=0)):
        yield [{"id": i, "ts": i, "tags": ["x"]} for i in range(3)]

    pipeline = make_pipeline(pipelines_dir, bucket)
    pipeline.run(counted())
    pipeline.run(quiver.resource([{"id": 1}], name="replaced", write_disposition="replace"))
    state = json.loads((pipeline.working_dir / "state.json").read_text())
    # after a load, every key is there (``staging`` only when a staging location was given)
    assert set(state) == _declared(PipelineState) - {"staging"}
    assert set(state["_local"]) <= _declared(LocalState)
    assert set(state["destination"]) == _declared(StoredDestination)
    package_states = _package_states(pipeline)
    assert len(package_states) == 2
    for document in package_states:
        assert set(document) <= _declared(PackageState)
        assert {"state", "created_at", "completed_at", "normalized_row_counts"} <= set(document)
        assert document["state"] == "loaded"
        if "pipeline_state" in document:
            assert set(document["pipeline_state"]) == _declared(StateRow)
    assert package_states[1]["replaced_tables"] == ["replaced"]
    # The typed reader gives the same document.
    load_id = pipeline.list_completed_load_packages()[0]
    storage = PackageStorage(pipeline.working_dir)
    assert storage.read_package_state(storage.path("loaded", load_id)) == package_states[0]
