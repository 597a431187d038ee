"""The leaderboard, built from the committed reference results and driven in headless chromium."""

import functools
import http.server
import json
import re
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from reptopo.site import build_site

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "site" / "reference"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.slow]
# hostile strings, one of each kind, placed in every free-text field a submitter controls
ATTACKS = [
    "<script>alert(1)</script>",
    "</title><script>alert(4)</script>",
    "[x](javascript:alert(5))",
    '" onmouseover="alert(2)" x="',
    "<img src=x onerror=alert(3)>",
    "\u202egnp.exe",
]
EVIL_TEXT = " ".join(ATTACKS)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _heading(page) -> str:
    return page.inner_text("h1").replace("¶", "").strip()  # the toc extension's permalink


def _serve(folder: Path):
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The reference store plus a published model whose free-text field is an attack: the entry's
    description (names, layer names included, are refused unless they match the registry's
    pattern: tests/test_registry.py and tests/test_bundle_security.py; a figure escapes every
    title and name it shows all the same)."""
    import yaml

    store = tmp_path_factory.mktemp("store")
    shutil.copytree(REFERENCE / "records", store / "records")
    shutil.copytree(REFERENCE / "comparisons", store / "comparisons")
    rec_path = sorted((store / "records").glob("lenet__mnist__*.json"))[0]
    rec = json.loads(rec_path.read_text())
    rec["model"], rec["job_id"] = "evil_model", "evil_model__p1"
    (store / "records" / "evil_model__p1.json").write_text(json.dumps(rec))
    entry = yaml.safe_load((ROOT / "registry" / "models" / "lenet.yaml").read_text())
    entry.update(name="evil_model", description=EVIL_TEXT)
    (store / "entries" / "models").mkdir(parents=True)
    (store / "entries" / "models" / "evil_model.yaml").write_text(yaml.safe_dump(entry))
    out = build_site(store, tmp_path_factory.mktemp("site") / "build")
    server, url = _serve(out)
    yield out, url
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, site):
    _, url = site
    pg = browser.new_page()
    pg.requests = []
    pg.dialogs = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.base = url
    yield pg
    foreign = [u for u in pg.requests if not u.startswith(url) and not u.startswith("data:")]
    assert foreign == [], f"requests to other hosts: {foreign[:5]}"
    assert pg.dialogs == []
    pg.close()


def _column(page, table, index):
    return page.eval_on_selector_all(
        f"#{table} tbody tr",
        f"rows => rows.filter(r => r.style.display !== 'none').map(r => r.cells[{index}].getAttribute('data-value') || r.cells[{index}].textContent.trim())",
    )


def test_leaderboard_sorts_and_filters(page):
    page.goto(page.base + "/leaderboard/")
    headers = page.eval_on_selector_all("#rt-leaderboard thead th", "ths => ths.map(t => t.textContent)")
    acc = headers.index("test acc.")
    page.click(f"#rt-leaderboard thead th:nth-child({acc + 1})")
    values = [float(v) for v in _column(page, "rt-leaderboard", acc)]
    assert values == sorted(values) and len(values) > 5
    page.click(f"#rt-leaderboard thead th:nth-child({acc + 1})")
    assert [float(v) for v in _column(page, "rt-leaderboard", acc)] == sorted(values, reverse=True)
    family = headers.index("family")
    page.select_option("#rt-leaderboard-controls select[data-filter=family]", "cnn")
    fams = _column(page, "rt-leaderboard", family)
    assert fams and set(fams) == {"cnn"}
    page.select_option("#rt-leaderboard-controls select[data-filter=family]", "")
    page.fill("#rt-leaderboard-controls input[data-filter=text]", "vit_tiny")
    models = _column(page, "rt-leaderboard", headers.index("model"))
    assert models and set(models) == {"vit_tiny"}


def test_leaderboard_reads_at_a_glance(page, tmp_path):
    """At 1,400 x 900 the main columns fit without horizontal scrolling, in a meaningful order,
    with the rest one click away; a screenshot of each main page is kept with the test's files."""
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(page.base + "/leaderboard/")
    visible = page.eval_on_selector_all(
        "#rt-leaderboard thead th", "ths => ths.filter(t => t.offsetParent !== null).map(t => t.textContent)"
    )
    assert visible == [
        "model",
        "task",
        "status",
        "test acc.",
        "gap",
        "PHdim (last)",
        "TwoNN (last)",
        "components (last, DTM)",
        "class b0+b1 (last, DTM)",
        "probe acc. (last)",
    ]
    assert page.evaluate(
        "() => document.querySelector('.md-content').scrollWidth <= document.querySelector('.md-content').clientWidth"
    )
    right = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('#rt-leaderboard thead th')].filter(t => t.offsetParent).map(t => t.getBoundingClientRect().right))"
    )
    assert right <= 1400
    cells = _column(page, "rt-leaderboard", 3)  # test accuracy: within each task, most accurate first
    tasks = _column(page, "rt-leaderboard", 1)
    for task in set(tasks):
        accs = [float(c) for c, t in zip(cells, tasks) if t == task]
        assert accs == sorted(accs, reverse=True)
    assert " ± " in page.inner_text("#rt-leaderboard")
    page.click("#rt-leaderboard-controls details summary")
    page.check("#rt-leaderboard-controls input[data-column=family]")
    assert page.locator("#rt-leaderboard thead th[data-col=family]").is_visible()
    page.screenshot(path=str(tmp_path / "leaderboard.png"))
    for path in ("/measures/", "/models/lenet/", "/", "/architectures/", "/compare/mnist/"):
        page.goto(page.base + path)
        assert page.evaluate(
            "() => document.querySelector('.md-content').scrollWidth <= document.querySelector('.md-content').clientWidth + 1"
        ), path
        page.screenshot(path=str(tmp_path / f"{path.strip('/').replace('/', '-') or 'home'}.png"))


def test_model_page_opens_from_its_row_and_plots_draw_points(page):
    page.goto(page.base + "/leaderboard/")
    link = page.locator("#rt-leaderboard tbody tr a").filter(has_text=re.compile(r"^lenet$")).first
    link.click()
    page.wait_for_url("**/models/lenet/")
    assert _heading(page) == "lenet"
    _assert_plots_have_points(page)
    assert "@misc{reptopo:lenet:mnist:p3" in page.inner_text("body")


def _assert_plots_have_points(page):
    page.wait_for_selector(".rt-plot .main-svg")
    counts = page.eval_on_selector_all(
        ".rt-plot",
        "divs => divs.map(d => d.querySelectorAll('.scatterlayer .point').length"
        " + d.querySelectorAll('.heatmaplayer image').length)",
    )
    assert counts and all(c > 0 for c in counts), counts


def test_measures_matrix_shows_every_score_with_its_tau(page):
    page.goto(page.base + "/measures/")
    page.wait_for_selector(".rt-plot .heatmaplayer image")
    spec = page.evaluate("() => JSON.parse(document.querySelector('.rt-plot').nextElementSibling.textContent)")
    heat = spec["data"][0]
    assert heat["type"] == "heatmap" and heat["x"][0] == "gap · (all tasks)"
    assert len(heat["y"]) >= 15 and all(len(row) == len(heat["x"]) for row in heat["z"])
    strengths = [abs(row[0]) for row in heat["z"] if row[0] is not None]
    assert strengths == sorted(strengths, reverse=True)  # sorted by the overall gap column
    assert any("*" in t for row in heat["text"] for t in row)


@pytest.mark.parametrize("path", ["/measures/", "/architectures/"])
def test_every_plot_draws_its_points(page, path):
    page.goto(page.base + path)
    _assert_plots_have_points(page)


def test_hostile_strings_stay_text(page, site):
    out, _ = site
    page.goto(page.base + "/models/evil-model/")
    _assert_plots_have_points(page)
    body = page.inner_text("body")
    for attack in ATTACKS:
        assert attack in body, attack  # shown, literally, as text
    assert page.title().startswith("evil_model")
    # none became markup: no injected script, link, image or handler anywhere in the rendered page
    assert page.eval_on_selector_all("script", "s => s.filter(x => x.textContent.includes('alert(')).length") == 0
    assert page.locator("a[href^='javascript']").count() == 0 and page.locator("img[src='x']").count() == 0
    assert page.locator("[onmouseover], [onerror]").count() == 0
    html = (out / "models" / "evil-model" / "index.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html and 'href="javascript' not in html
    page.goto(page.base + "/leaderboard/")
    assert "evil_model" in page.inner_text("#rt-leaderboard")


def test_home_cite_and_submit_pages(page, site):
    page.goto(page.base + "/")
    body = page.inner_text("body")
    assert "Protocol version 3" in body and "Findings at a glance" in body
    # one row per claim: a badge, the deciding number, the stability; fragile verdicts marked as the table says
    verdicts = pd.read_parquet(site[0] / "downloads" / "verdicts.parquet")  # the site's own analysis
    assert page.locator("table.rt-claims tbody tr").count() == len(verdicts)
    assert page.locator("table.rt-claims .rt-badge").count() == len(verdicts)
    fragile = page.locator("table.rt-claims tr.rt-fragile")
    assert fragile.count() == int(verdicts["fragile"].sum()) > 0 and "fragile" in fragile.first.inner_text()
    birdal = page.locator("table.rt-claims tbody tr", has_text="Birdal et al. 2021").inner_text()
    assert "%" in birdal and "[" in birdal  # the stability's share and the deciding number's interval
    # the sentences one click away
    sentences = page.locator("details", has_text="The findings in sentences")
    assert not sentences.locator("li").first.is_visible()
    sentences.locator("summary").click()
    assert sentences.locator("li").first.is_visible() and "Naitzat" in sentences.inner_text()
    page.goto(page.base + "/measures/")
    assert page.locator("table.rt-claims tbody tr").count() == int((verdicts["source"] == "measures").sum())
    page.goto(page.base + "/cite/")
    assert "@misc{reptopo2026" in page.inner_text("body")
    page.goto(page.base + "/submit/")
    body = page.inner_text("body")
    assert "builder" in body and "layers" in body and "Extra" not in body


def test_plot_writes_png_and_pdf(site, tmp_path):
    import subprocess
    import sys

    store = tmp_path / "store"
    shutil.copytree(REFERENCE / "records", store / "records")
    res = subprocess.run(
        [sys.executable, "-m", "reptopo.cli", "plot", "--store", str(store), "--out", str(tmp_path / "figs")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    pngs, pdfs = sorted((tmp_path / "figs").glob("*.png")), sorted((tmp_path / "figs").glob("*.pdf"))
    assert len(pngs) == len(pdfs) >= 6 and (tmp_path / "figs" / "curves_mnist.png").is_file()
    assert (tmp_path / "figs" / "measures_matrix.png").is_file() and (
        tmp_path / "figs" / "measures_matrix.pdf"
    ).is_file()
    assert pngs[0].read_bytes()[:4] == b"\x89PNG" and pdfs[0].read_bytes()[:4] == b"%PDF"


def _specs(page):
    return page.eval_on_selector_all(
        "script[type='application/json'][id$='-data']", "ss => ss.map(s => JSON.parse(s.textContent))"
    )


def test_figures_are_small_multiples_with_one_colour_per_family(page):
    page.goto(page.base + "/architectures/")
    _assert_plots_have_points(page)
    assert page.eval_on_selector_all(".rt-grid", "gs => gs.map(g => g.querySelectorAll('.rt-plot').length)")[0] >= 5
    lenet = {
        t["line"]["color"]
        for s in _specs(page)
        for t in s["data"]
        if t.get("name", "").startswith("lenet (") and "line" in t
    }
    text_cnn = {
        t["line"]["color"]
        for s in _specs(page)
        for t in s["data"]
        if t.get("name", "").startswith("text_cnn (") and "line" in t
    }
    censored = {
        t["marker"]["color"]
        for s in _specs(page)
        for t in s["data"]
        if t.get("name", "").startswith("text_cnn (") and t.get("name", "").endswith(": censored")
    }
    assert censored and censored == text_cnn  # a censored PHdim's mark has its model's colour
    names = {t["name"] for s in _specs(page) for t in s["data"] if t.get("showlegend", True) and "name" in t}
    assert any("random-init control" in n for n in names) and any("shuffled-label control" in n for n in names)
    page.goto(page.base + "/measures/")
    cnn = {t["marker"]["color"] for s in _specs(page) for t in s["data"] if t.get("name") == "cnn"}
    assert len(cnn) == 1  # the correlation plots and the PHdim-by-family curves agree
    assert len(lenet) == 1 and lenet == cnn  # lenet is the cnn family: one colour on both pages
    # titles sit left and the mode bar stands at the right, so they never overlap
    assert all(
        s["layout"]["title"]["xanchor"] == "left" and s["layout"]["modebar"]["orientation"] == "v" for s in _specs(page)
    )


def test_learning_dynamics_maps_show_layers_by_epochs_with_the_controls(page):
    page.goto(page.base + "/models/lenet/")
    _assert_plots_have_points(page)
    maps = [s for s in _specs(page) if s["data"][0].get("type") == "heatmap"]
    assert maps, "the model page shows its learning-dynamics maps"
    assert all(m["data"][0]["x"][0] == "epoch 0" and any(c.endswith("(last)") for c in m["data"][0]["x"]) for m in maps)
    # on MNIST, lenet's controls stand beside its epochs
    with_controls = [m for m in maps if "random-init control" in m["data"][0]["x"]]
    assert with_controls and "shuffled-label control" in with_controls[0]["data"][0]["x"]
    depths = [float(label.split()[0]) for label in maps[0]["data"][0]["y"]]
    assert depths == sorted(depths) and depths[0] == 0.0
    page.goto(page.base + "/architectures/")
    assert page.locator("h3", has_text="Learning dynamics").count() >= 5  # one per task with dynamics


def test_compare_page_switches_pairs_with_two_selectors(page):
    page.goto(page.base + "/models/lenet/")
    page.locator("a", has_text=re.compile(r"^Similarity maps .* on mnist$")).click()
    page.wait_for_url("**/compare/mnist/")
    _assert_plots_have_points(page)
    visible = page.eval_on_selector_all(".rt-pair", "gs => gs.filter(g => g.style.display !== 'none').length")
    assert visible == 1
    page.select_option("select[data-side=left]", "lenet")
    page.select_option("select[data-side=right]", "lenet (seed 1)")
    shown = page.eval_on_selector_all(
        ".rt-pair", "gs => gs.filter(g => g.style.display !== 'none').map(g => [g.dataset.left, g.dataset.right])"
    )
    assert shown == [["lenet", "lenet (seed 1)"]]
    plot = page.locator(".rt-pair:visible .rt-plot").first
    assert plot.locator(".heatmaplayer image").count() == 1
    page.select_option("select[data-side=right]", "lenet (random-init control)")
    assert page.locator(".rt-pair:visible").count() == 1 and page.locator(".rt-nopair").is_hidden()
    page.select_option("select[data-side=left]", "mlp (seed 1)")
    assert page.locator(".rt-pair:visible").count() == 0 and page.locator(".rt-nopair").is_visible()
    page.goto(page.base + "/compare/")
    body = page.inner_text("body")
    assert "agree with CKA" in body and "seed pairs are significantly more similar" in body
