"""``pipeline.show()``: the HTML page of a pipeline, opened in a real browser (headless Chromium).

The page must stand alone (no network: inline CSS and SVG, no script, no external reference),
show every table with its columns and types in its parent-child tree, the rows per table, the
last loads, and bar charts of rows per table and seconds per step. Chromium renders it to a
screenshot (checked not blank) and dumps its DOM (checked for the tables, columns and charts).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest

import quiver

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--window-size=1200,900",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def shop(pipelines_dir: str, bucket: Path) -> quiver.Pipeline:
    pipeline = quiver.pipeline(
        "shop",
        pipelines_dir=pipelines_dir,
        destination=quiver.destinations.filesystem(bucket_url=str(bucket)),
        dataset_name="shop_data",
    )
    orders = [
        {"id": i, "lines": [{"sku": f"s{i}{j}", "tags": ["x", "y"]} for j in range(2)]}
        for i in range(30)
    ]
    pipeline.run(orders, table_name="orders", primary_key="id", write_disposition="merge")
    pipeline.run(pa.table({"user_id": [1, 2, 3], "name": ["a", "b", "c"]}), table_name="users")
    return pipeline


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_page_stands_alone_and_lists_tables_rows_and_loads(shop: quiver.Pipeline) -> None:
    path = Path(shop.show())
    assert path == shop.working_dir / "shop.html"
    page = path.read_text()
    parser = _Elements()
    parser.feed(page)
    tags = {tag for tag, _ in parser.tags}
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert not re.search(r"(src|href)=\"https?:", page)  # nothing to fetch
    assert "svg" in tags and page.count("<svg") == 2
    names = [attrs.get("data-table") for _, attrs in parser.tags if attrs.get("data-table")]
    assert names == ["orders", "orders__lines", "orders__lines__tags", "users"]
    # the tree: the child's list is inside its parent's item
    assert page.index('data-table="orders__lines"') < page.index('data-table="users"')
    assert "60 rows" in page and "120 rows" in page and "3 rows" in page
    for load_id in shop.list_completed_load_packages():
        assert load_id in page
    assert "Seconds per step" in page and "load (completed)" in page


def test_a_pipeline_that_never_loaded_still_has_a_page(pipelines_dir: str, tmp_path: Path) -> None:
    pipeline = quiver.pipeline("empty", pipelines_dir=pipelines_dir)
    page = Path(pipeline.show(str(tmp_path / "empty.html"))).read_text()
    assert "No schemas yet" in page and "No load packages yet" in page


@pytest.mark.slow
def test_chromium_renders_the_page(shop: quiver.Pipeline, tmp_path: Path) -> None:
    # No skip: a run without the browser fails here and says how to get it.
    assert CHROMIUM is not None, (
        "install Debian's chromium (.ci/run does: apt-get install chromium)"
    )
    from PIL import Image

    path = Path(shop.show(str(tmp_path / "shop.html")))
    screenshot = tmp_path / "shop.png"
    shot = _chromium(tmp_path, f"--screenshot={screenshot}", path.as_uri())
    assert screenshot.exists(), shot.stderr
    with Image.open(screenshot) as image:
        assert image.size == (1200, 900)
        colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None
    white = sum(count for count, rgb in colors if rgb == (255, 255, 255))
    bar_blue = sum(count for count, rgb in colors if rgb == (0x3B, 0x6E, 0xA5))
    assert white < 0.97 * 1200 * 900  # not blank
    assert bar_blue > 2000  # the bar charts are drawn above the fold

    dom = _chromium(tmp_path, "--dump-dom", path.as_uri())
    assert dom.returncode == 0, dom.stderr
    for name in ("orders", "orders__lines", "orders__lines__tags", "users", "user_id"):
        assert f">{name}<" in dom.stdout
    assert dom.stdout.count("<rect") >= 4 + 4  # a bar per table and per step
