"""Quickstart: load a generated stream of nested events into a local Delta table.

Run with ``make run``. The events look like what an app emits: nested ``geo`` objects become
``geo__*`` columns and the ``items`` lists become the child table ``events__items``, linked to
their parent rows by ``_dlt_parent_id``.
"""

from __future__ import annotations

import datetime
import decimal
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

import quiver

EVENT_TYPES = ["view", "click", "add_to_cart", "purchase", "refund", "signup"]
COUNTRIES = [("PL", 52.2, 21.0), ("DE", 52.5, 13.4), ("US", 40.7, -74.0), ("JP", 35.7, 139.7)]


@quiver.resource(name="events", write_disposition="append", primary_key="id")
def events(count: int = 50_000, page_size: int = 10_000) -> Iterator[list[dict[str, Any]]]:
    """Deterministic app events, yielded in pages (as an API client would)."""
    rng = random.Random(42)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    for page_start in range(0, count, page_size):
        page = []
        for i in range(page_start, min(count, page_start + page_size)):
            country, lat, lon = rng.choice(COUNTRIES)
            page.append(
                {
                    "id": i,
                    "user_name": f"user_{rng.randrange(5_000)}",
                    "amount": round(rng.uniform(1, 500), 2),
                    "is_active": rng.random() < 0.8,
                    "created_at": start + datetime.timedelta(seconds=37 * i),
                    "event_type": rng.choice(EVENT_TYPES),
                    "geo": {"country": country, "lat": lat, "lon": lon},
                    "price": decimal.Decimal(rng.randrange(100, 99_999)) / 100,
                    "note": None if rng.random() < 0.3 else f"note {i}",
                    "items": [
                        {"sku": f"SKU-{rng.randrange(1000)}", "qty": rng.randrange(1, 4)}
                        for _ in range(rng.randrange(0, 4))
                    ],
                }
            )
        yield page


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="quiver-quickstart-"))
    pipeline = quiver.pipeline(
        pipeline_name="quickstart",
        pipelines_dir=str(workdir / "pipelines"),
        destination=quiver.destinations.filesystem(bucket_url=str(workdir / "lake")),
        dataset_name="app_events",
    )
    load_info = pipeline.run(events())
    print(load_info)

    table_path = workdir / "lake" / "app_events" / "events"
    events_df = pl.read_delta(str(table_path))
    items_df = pl.read_delta(str(workdir / "lake" / "app_events" / "events__items"))
    print(
        f"\nRead back with polars from {table_path}: {events_df.height} events, "
        f"{items_df.height} items"
    )
    print(
        events_df.select(
            "id", "user_name", "amount", "event_type", "geo__country", "created_at"
        ).head(5)
    )
    per_country = (
        events_df.join(items_df, left_on="_dlt_id", right_on="_dlt_parent_id")
        .group_by("geo__country")
        .agg(pl.len().alias("items"), pl.col("qty").sum().alias("quantity"))
        .sort("geo__country")
    )
    print(per_country)


if __name__ == "__main__":
    main()
