"""The leaderboard's pages rendered from the committed reference tables, without mkdocs or a
browser (the fast tier); tests/test_site.py builds and drives the real site."""

from pathlib import Path

import pytest

from reptopo.analysis import load_tables
from reptopo.site.html import esc, fmt, html_table
from reptopo.site.pages import page_leaderboard, page_measures, page_model, render_all
from reptopo.store import ResultStore

REFERENCE = Path(__file__).resolve().parents[1] / "site" / "reference"


@pytest.fixture(scope="module")
def tables():
    return load_tables(REFERENCE)


def test_every_page_renders_from_the_reference_tables(tables):
    pages = render_all(ResultStore(REFERENCE), tables)
    assert {"index.md", "leaderboard.md", "architectures.md", "measures.md", "submit.md", "cite.md",
            "models/index.md", "models/lenet.md"} <= set(pages)
    assert "Protocol version 1" in pages["index.md"]
    assert pages["leaderboard.md"].count("<tr") > 20 and "data-value" in pages["leaderboard.md"]
    assert 'class="rt-plot"' in pages["measures.md"] and 'class="rt-plot"' in pages["models/lenet.md"]


def test_strings_from_records_are_escaped_in_pages(tables):
    evil = '<img src=x onerror=alert(1)>"'
    models = tables["models"].copy()
    models.loc[models.index[0], "model"] = evil
    page = page_model(evil, None, None, {**tables, "models": models}, ResultStore(REFERENCE))
    assert evil not in page and esc(evil) in page
    rows = html_table(models.head(3), [("model", "model")], "t")
    assert "<img" not in rows and "&lt;img src=x onerror=alert(1)&gt;&quot;" in rows


def test_numbers_are_formatted_and_missing_ones_are_a_dash():
    assert fmt(float("nan")) == "–" and fmt(None) == "–" and fmt(float("inf")) == "–"
    assert fmt(0.123456) == "0.123" and fmt(7) == "7" and fmt(0.000225) == "0.000225" and fmt(2.5e-5) == "2.5e-05"


def test_leaderboard_and_measures_pages_name_their_columns(tables):
    board = page_leaderboard(tables)
    for label in ("test acc", "gap"):
        assert label in board.lower()
    assert "Kendall" in page_measures(tables)
