"""reptopo.profile: any torch model and data to per-layer topology, equal to the benchmark's
numbers for the same inputs, leaving the model as it was, and one line for each bad input."""

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import reptopo
from reptopo.errors import ProfileError
from reptopo.pipeline.models import create_model
from reptopo.profiling import default_layers
from reptopo.protocol import measure_layer, protocol
from reptopo.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = ROOT / "registry"


@pytest.fixture(scope="module")
def reg():
    return Registry(REGISTRY)


@pytest.fixture(scope="module")
def digits(reg):
    from reptopo.pipeline.tasks import load_task

    x, y = load_task(reg.task("digits")).probe()
    return torch.as_tensor(x), y


def _mlp(n_in=10, n_out=3):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, n_out)
    )


def _blocks(specs):
    return [s.name for s in specs if s.role in ("block", "attention_block")]


# --- the default layer choice, against the layers the registry's entries name by hand -----------


def test_default_layers_of_a_cnn_are_its_residual_blocks_and_head(reg):
    import timm

    specs, how = default_layers(timm.create_model("resnet18"))
    assert _blocks(specs) == [f"layer{s}.{b}" for s in range(1, 5) for b in (0, 1)]
    assert specs[-1].name == "fc" and specs[-1].role == "head" and specs[-1].depth == 1.0
    assert "8 leaf blocks (BasicBlock)" in how
    # the entry's blocks (one BasicBlock per stage): the stage's output is its one block's
    entry = reg.model("resnet_small")
    specs, _ = default_layers(create_model(entry, reg.task("mnist")))
    assert _blocks(specs) == [f"{s.name}.0" for s in entry.layers if s.role == "block"]
    depths = [s.depth for s in specs]
    assert depths == sorted(depths) and len(set(depths)) == len(depths)


def test_default_layers_of_a_vit_and_a_text_transformer_are_their_encoder_blocks(reg):
    for model, task in (("vit_tiny", "mnist"), ("bert_small", "rotten_tomatoes")):
        entry = reg.model(model)
        specs, _ = default_layers(create_model(entry, reg.task(task)))
        assert _blocks(specs) == [s.name for s in entry.layers if s.role == "attention_block"], model
        assert all(s.role == "attention_block" and s.layout == "tokens" for s in specs[:-1])
        assert specs[-1].name == "head" and specs[-1].role == "head"


def test_default_layers_of_plain_networks(reg):
    """No repeated blocks: the parametrised parts, a linear layer's activation preferred."""
    specs, how = default_layers(_mlp())
    assert [s.name for s in specs] == ["2", "4", "5"] and specs[-1].role == "head"
    lenet = reg.model("lenet")
    specs, _ = default_layers(create_model(lenet, reg.task("mnist")))
    assert [s.name for s in specs] == [s.name for s in lenet.layers if s.role != "input"]
    mlp = reg.model("mlp")
    specs, _ = default_layers(create_model(mlp, reg.task("mnist")))
    assert [s.name for s in specs] == [s.name for s in mlp.layers if s.role != "input"]


# --- the numbers: the benchmark's own ------------------------------------------------------------


@pytest.mark.slow
def test_profile_equals_the_benchmarks_extraction_and_measures(reg, digits, tmp_path):
    """The same model and probe inputs: activations bit for bit those the jobs extract, and every
    measure the one ``measure_layer`` gives them."""
    from reptopo.pipeline.probe import extract

    entry = reg.model("lenet")
    torch.manual_seed(0)
    model = create_model(entry, reg.task("digits"))
    x, y = digits
    prof = reptopo.profile(model, x, labels=y, layers=entry.layers, progress=False)
    paths = extract(model, x, entry.layers, tmp_path, is_text=False)
    assert set(paths) == set(prof.activations)
    assert prof.skipped == {} and len(prof.positions) == len(y) and prof.n_inputs == len(y)
    cfg = protocol()
    for (name, pooling), path in paths.items():
        acts = np.load(path)
        np.testing.assert_array_equal(prof.activations[(name, pooling)], acts)
        expected, _ = measure_layer(acts, y, cfg, name)
        got = prof.layer(name, pooling).measures.model_dump(mode="json", exclude_unset=True)
        expected = json.loads(json.dumps(expected, default=float))
        got.pop("seconds"), expected.pop("seconds")
        assert got == expected, (name, pooling)


def test_the_table_has_a_row_per_layer_with_flags(digits):
    x, y = digits
    torch.manual_seed(0)
    prof = reptopo.profile(_mlp(64, 10), x, labels=y, progress=False)
    df = prof.to_pandas()
    assert list(df["layer"]) == ["2", "4", "5"] and df["primary"].all()
    for col in (
        "depth",
        "phdim",
        "phdim_ci_low",
        "phdim_ci_high",
        "twonn",
        "whole_b0_dtm",
        "class_betti_sum",
        "linear_probe_accuracy",
        "flags",
    ):
        assert col in df, col
    assert df["phdim"].notna().all() and (df["phdim_ci_low"] <= df["phdim"]).all()
    # a 10-d head of a random network: PHdim calibrated (600 points is a table's pool)
    assert (df["flags"] == "").all(), df["flags"].tolist()


def test_without_labels_the_class_measures_are_skipped_and_said(digits):
    x, _ = digits
    prof = reptopo.profile(_mlp(64, 10), x, progress=False)
    assert set(prof.skipped) == {"class_topology", "phdim_per_class", "linear_probe_accuracy"}
    assert all("needs labels" in why for why in prof.skipped.values())
    m = prof.layer("5").measures
    assert m.class_topology is None and m.linear_probe_accuracy is None and m.twonn is not None


def test_the_kept_inputs_are_cut_to_a_calibrated_pool():
    """700 inputs: PHdim's tables are for pools of 300, 600, 1,000 and 2,000 points, so 600 are
    kept class-balanced and PHdim has a calibrated interval; with probe_size given, it is obeyed
    and an uncalibrated PHdim is said so."""
    torch.manual_seed(1)
    x, y = torch.randn(700, 10), np.arange(700) % 3
    prof = reptopo.profile(_mlp(), x, labels=y, progress=False, measures=("phdim",))
    assert len(prof.positions) == 600 and np.bincount(prof.labels).tolist() == [200, 200, 200]
    assert prof.layer("5").measures.phdim.calibrated is not None
    raw = reptopo.profile(_mlp(), x, labels=y, progress=False, measures=("phdim",), probe_size=650)
    assert len(raw.positions) == 650 and raw.layer("5").measures.phdim.calibrated is None
    assert "PHdim uncalibrated" in raw.to_pandas()["flags"].iloc[0]


@pytest.mark.slow
def test_more_inputs_than_the_protocols_pool_measure_phdim_on_a_larger_calibrated_pool():
    """5,500 inputs: PHdim is measured on the 5,000-point pool (its table reads it), which the
    profile's protocol says; such a profile is not protocol v3's own measurement, and to_record
    refuses it by name."""
    from reptopo.errors import ProfileError

    torch.manual_seed(2)
    x, y = torch.randn(5500, 10), np.arange(5500) % 3
    prof = reptopo.profile(_mlp(), x, labels=y, progress=False, measures=("phdim",), probe_size=5500)
    assert prof.protocol.phdim_pool == 5000 and len(prof.positions) == 5500
    phd = prof.layer("5").measures.phdim
    assert phd.pool_size == 5000 and phd.calibrated is not None
    with pytest.raises(ProfileError, match="pool of 5000 points, not protocol v3's 2000"):
        prof.to_record(task="mine")


def test_a_loader_is_sampled_as_it_streams_the_same_rows_for_every_layer():
    torch.manual_seed(2)
    x, y = torch.randn(500, 10), torch.arange(500) % 4
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)
    model = _mlp(10, 4)
    prof = reptopo.profile(model, loader, probe_size=300, measures=("twonn",), progress=False)
    pos = prof.positions
    assert prof.n_inputs == 500 and len(pos) == 300 and np.all(np.diff(pos) > 0) and pos.max() < 500
    np.testing.assert_array_equal(prof.labels, y.numpy()[pos])
    with torch.no_grad():
        expected = model[:3](x[torch.as_tensor(pos)]).numpy()
    np.testing.assert_allclose(prof.activations[("2", "raw")], expected, rtol=1e-6, atol=1e-6)
    # every input is equally likely to be kept: inclusion counts over seeds within 4.5 sd of 60%
    from reptopo.profiling.inputs import Reservoir

    counts = np.zeros(500)
    for seed in range(300):
        r = Reservoir(300, seed)
        for start in range(0, 500, 64):
            r.slots(min(64, 500 - start))
        counts[r.positions] += 1
    sd = np.sqrt(300 * 0.6 * 0.4)
    assert np.abs(counts - 180).max() < 4.5 * sd
    assert abs(counts[:100].mean() - counts[400:].mean()) < 2 * sd / np.sqrt(100) * 3


def test_a_loader_of_every_input_keeps_them_in_order_and_matches_the_tensor_profile():
    torch.manual_seed(3)
    x, y = torch.randn(200, 10), np.arange(200) % 2
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.as_tensor(y)), batch_size=32)
    model = _mlp(10, 2)
    a = reptopo.profile(model, loader, measures=("twonn",), progress=False)
    b = reptopo.profile(model, (x, y), measures=("twonn",), progress=False)
    assert a.inputs_hash == b.inputs_hash and np.array_equal(a.positions, np.arange(200))
    assert a.layer("4").measures.twonn.dimension == pytest.approx(b.layer("4").measures.twonn.dimension, rel=1e-5)
    # the hash is of the kept inputs themselves and their order: one changed value, two inputs
    # swapped, or the same bytes in another shape each give another hash (hand-computed reference)
    import hashlib

    rows = b"".join(hashlib.sha256(x[i].numpy().tobytes()).digest() for i in range(200))
    assert b.inputs_hash == hashlib.sha256(f"{x.numpy().dtype.str}(10,)".encode() + rows).hexdigest()
    changed, swapped = x.clone(), x.clone()
    changed[7, 3] += 1e-6
    swapped[[0, 1]] = swapped[[1, 0]]
    others = {
        reptopo.profile(model, (v, y), measures=("twonn",), progress=False).inputs_hash for v in (changed, swapped)
    }
    reshaped = reptopo.profile(
        nn.Sequential(nn.Flatten(), model), (x.reshape(200, 2, 5), y), measures=("twonn",), progress=False
    )
    assert len(others | {b.inputs_hash, reshaped.inputs_hash}) == 4


# --- the model is left as it was -----------------------------------------------------------------


class _Fails(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = _mlp(10, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("boom in batch 2")
        return self.body(x)


def _hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_hooks_are_removed_and_modes_restored_after_an_exception():
    model = _Fails()
    model.train()
    model.body[3].eval()  # a submodule in its own mode (a frozen part) keeps it
    modes = [m.training for m in model.modules()]
    with pytest.raises(RuntimeError, match="boom in batch 2"):
        reptopo.profile(model, torch.randn(100, 10), batch_size=40, progress=False)
    assert _hooks(model) == 0 and [m.training for m in model.modules()] == modes
    # and after a success
    model.calls = -100
    reptopo.profile(model, torch.randn(100, 10), measures=("twonn",), progress=False)
    assert _hooks(model) == 0 and [m.training for m in model.modules()] == modes
    # the weights were not touched
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reptopo.profile(model, torch.randn(100, 10), measures=("twonn",), progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# --- bad input: one line naming the argument or layer ----------------------------------------------


def test_an_unknown_layer_names_the_nearest():
    with pytest.raises(ProfileError, match=r"layers: 'blocks\.O' is not a module of the model; nearest: .*blocks\.0"):
        model = nn.Sequential()
        model.add_module("blocks", nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 8)))
        reptopo.profile(model, torch.randn(50, 10), layers=["blocks.O"], progress=False)


def test_a_loader_without_tensors_is_refused():
    with pytest.raises(ProfileError, match=r"data: batch 0 is a dict"):
        reptopo.profile(_mlp(), [{"x": 1}], progress=False)
    with pytest.raises(ProfileError, match=r"data: no batch came from the data"):
        reptopo.profile(_mlp(), torch.utils.data.DataLoader([], batch_size=4), progress=False)
    with pytest.raises(ProfileError, match=r"data: a list of strings needs a model given as 'hf:ORG/NAME'"):
        reptopo.profile(_mlp(), ["a text"] * 40, progress=False)
    with pytest.raises(ProfileError, match=r"data: a int"):
        reptopo.profile(_mlp(), 5, progress=False)


def test_non_finite_activations_name_the_layer_and_batch():
    model = _mlp()
    x = torch.randn(100, 10)
    x[70, 3] = float("nan")
    with pytest.raises(ProfileError, match=r"layer '2' \(raw\), batch 1: non-finite activations"):
        reptopo.profile(model, x, batch_size=64, progress=False)
    assert _hooks(model) == 0


def test_a_model_on_another_device_is_named():
    model = _mlp().to("meta")
    with pytest.raises(ProfileError, match=r"device: the model's parameters are on meta, not cpu; pass device='meta'"):
        reptopo.profile(model, torch.randn(50, 10), progress=False)


def test_too_little_data_and_unknown_measures():
    with pytest.raises(ProfileError, match=r"data: 12 inputs; the measures need at least 30"):
        reptopo.profile(_mlp(), torch.randn(12, 10), progress=False)
    with pytest.raises(ProfileError, match=r"measures: \['betti_curve'\] are not measures of protocol 3"):
        reptopo.profile(_mlp(), torch.randn(50, 10), measures=("twonn", "betti_curve"), progress=False)
    with pytest.raises(ProfileError, match=r"labels: shape \(49,\); expected one label per input \(50\)"):
        reptopo.profile(_mlp(), torch.randn(50, 10), labels=np.zeros(49), progress=False)


# --- the result: a record, a comparison, figures ---------------------------------------------------


def test_to_record_is_a_valid_self_reported_record_a_store_reads(tmp_path, digits):
    from reptopo.store import ResultStore, collect

    x, y = digits
    prof = reptopo.profile(_mlp(64, 10), x, labels=y, progress=False, measures=("twonn", "phdim", "linear_probe"))
    rec = prof.to_record(model="my_mlp", task="my_digits", train_accuracy=0.9, test_accuracy=0.8)
    assert rec.provenance == "self_reported" and rec.status == "submitted_activations"
    assert rec.probe.hash == prof.inputs_hash and rec.probe.size == len(y) and len(rec.layers) == 3
    store = ResultStore(tmp_path / "store")
    store.write(rec, prof.diagrams)
    models, layers = collect(store)
    assert models["model"].tolist() == ["my_mlp"] and len(layers) == 3
    assert layers["twonn"].tolist() == pytest.approx(prof.to_pandas()["twonn"].tolist())


def test_compare_gives_cka_and_rtd_against_another_profile_of_the_same_inputs(digits):
    from reptopo.measures.cka import linear_cka

    x, y = digits
    torch.manual_seed(4)
    a = reptopo.profile(_mlp(64, 10), x, labels=y, progress=False, measures=("twonn",))
    b = reptopo.profile(_mlp(64, 10), x, labels=y, progress=False, measures=("twonn",))
    c = a.compare(b)
    assert c.cka.shape == (3, 3) and c.left_layers == ["2", "4", "5"]
    assert c.cka[1, 2] == pytest.approx(linear_cka(a.activations[("4", "raw")], b.activations[("5", "raw")]), rel=1e-9)
    assert np.isfinite(c.rtd).all() and (c.rtd >= 0).all()
    assert np.diag(a.compare(a).cka) == pytest.approx(1.0)
    other = reptopo.profile(_mlp(64, 10), x[:300], progress=False, measures=("twonn",))
    with pytest.raises(ProfileError, match="profiled on different inputs"):
        a.compare(other)


def test_plot_draws_the_sites_curves_in_one_figure(digits):
    x, y = digits
    prof = reptopo.profile(_mlp(64, 10), x, labels=y, progress=False, measures=("twonn", "phdim"))
    fig = prof.plot()
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["PHdim", "TwoNN dimension"]
    phdim = [t for t in fig.data if t.xaxis in ("x", None) and t.mode == "lines+markers"][0]
    assert list(phdim.y) == pytest.approx(prof.to_pandas()["phdim"].tolist())
    assert phdim.error_y.array is not None  # the calibrated interval
    mfig = prof.plot(backend="matplotlib", measures=("twonn",))
    assert len(mfig.axes) == 1 and mfig.axes[0].get_title() == "TwoNN dimension"
    with pytest.raises(ProfileError, match="plot: no measure to draw"):
        prof.plot(measures=("betti_1",))


# --- hub names, offline --------------------------------------------------------------------------


def test_hub_names_offline_use_shipped_weights_or_fail_at_once(monkeypatch):
    from reptopo.pipeline.models import ModelBuildError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = [
        f"the film was {a} and {b}"
        for a in ("good", "bad", "long", "short", "warm", "cold", "loud")
        for b in ("slow", "fast", "kind", "odd", "bright", "dark")
    ]
    prof = reptopo.profile("hf:sentence-transformers/all-MiniLM-L6-v2", texts, measures=("twonn",), progress=False)
    assert [s.name for s in prof.layers][:6] == [f"encoder.encoder.layer.{i}" for i in range(6)]
    assert prof.activations[("encoder.encoder.layer.5", "mean")].shape == (42, 384)
    start = time.perf_counter()
    with pytest.raises(
        ModelBuildError,
        match=r"timm:resnet18: the Hugging Face hub cannot be reached .* "
        r"profile .*timm:mobilenetv2_100",
    ):
        reptopo.profile("timm:resnet18", torch.zeros(40, 3, 32, 32))
    with pytest.raises(
        ModelBuildError,
        match=r"hf:bert-base-uncased: .* not in the local cache.*"
        r"hf:sentence-transformers/all-MiniLM-L6-v2",
    ):
        reptopo.profile("hf:bert-base-uncased", ["a"] * 40)
    assert time.perf_counter() - start < 20  # at once, not after network timeouts


# --- the command line ------------------------------------------------------------------------------


USER_MODULE = """
import torch

def my_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))
"""


@pytest.mark.slow
def test_cli_profile_writes_the_table_figures_and_record(tmp_path, digits, monkeypatch, capsys):
    from reptopo.cli import main
    from reptopo.record import Record

    x, y = digits
    (tmp_path / "profiled_models.py").write_text(USER_MODULE)
    np.savez(tmp_path / "data.npz", x=x.numpy(), y=y)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "profiled_models", raising=False)  # imported fresh, forgotten after
    assert (
        main(
            ["profile", "profiled_models:my_net", "--data", "data.npz", "--measures", "twonn,phdim", "--out", "report"]
        )
        == 0
    )
    out = tmp_path / "report"
    assert {p.name for p in out.iterdir()} == {
        "profile.parquet",
        "profile.csv",
        "profile.html",
        "profile.png",
        "record.json",
    }
    rec = Record.from_disk(out / "record.json")
    assert rec.model == "profiled_models-my_net" and rec.provenance == "self_reported" and len(rec.layers) == 2
    html = (out / "profile.html").read_text()
    # plotly.js inside the page: no script comes from elsewhere
    assert "<script" in html and not re.search(r"<script[^>]*\bsrc=", html)
    capsys.readouterr()
    # bad input: one line, exit 2, nothing written
    for args, message in (
        (
            ["profile", "profiled_models:my_net", "--data", "missing.npz", "--out", "r2"],
            "--data: missing.npz: no such file",
        ),
        (
            ["profile", "profiled_models:my_net", "--data", "data.npz", "--layers", "1,9", "--out", "r2"],
            "layers: '9' is not a module of the model",
        ),
        (
            ["profile", "profiled_models:nope", "--data", "data.npz", "--out", "r2"],
            "cannot import 'profiled_models:nope'",
        ),
        (
            ["profile", "profiled_models:my_net", "--data", "data.npz", "--labels", "z", "--out", "r2"],
            "--labels: z: neither a file nor an array of data.npz",
        ),
    ):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "r2").exists()


# --- the benchmark's record of the same checkpoint (slow: trains) -----------------------------------


@pytest.mark.slow
def test_profile_of_a_trained_checkpoint_equals_its_benchmark_record(tmp_path):
    """A job trained and recorded by the runner; its checkpoint profiled on the probe set: every
    value agrees within the verify tolerance (on the same machine, bit for bit)."""
    from reptopo.pipeline.checkpoints import load_trained
    from reptopo.pipeline.jobs import Job, run_job
    from reptopo.protocol import CURRENT_VERSION
    from reptopo.record import Record
    from reptopo.store import ResultStore
    from reptopo.submission.reproduce import compare_measurement, score_leaves

    job = Job("lenet", "digits", 1, (("train_size", 400), ("width", 0.5)))
    assert run_job(job, str(REGISTRY), str(tmp_path / "store"))["status"] == "done"
    store = ResultStore(tmp_path / "store")
    record = Record.from_disk(store.record_path(job.job_id(CURRENT_VERSION)))
    model, x_probe, y_probe, _ = load_trained(record, str(REGISTRY), store)
    entry = Registry(REGISTRY).model("lenet")
    prof = reptopo.profile(model, x_probe, labels=y_probe, layers=entry.layers, progress=False)
    # the layers' leaves (the profile knows no training: its accuracies are NaN)
    claimed = {k: v for k, v in score_leaves(record.to_dict(), final_epoch_only=True).items() if "/" in k}
    mine = {k: v for k, v in score_leaves(prof.to_record().to_dict()).items() if "/" in k}
    assert set(mine) == set(claimed) and len(mine) > 50
    findings = compare_measurement(claimed, mine)
    assert all(f.verdict == "agrees" for f in findings), [f for f in findings if f.verdict != "agrees"][:5]
    exact = [k for k in mine if not (mine[k] == claimed[k] or (np.isnan(mine[k]) and np.isnan(claimed[k])))]
    assert not exact, exact[:5]


@pytest.mark.slow
def test_the_readme_notebook_runs_headless(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "examples" / "profile_your_model.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "phdim" in text and "encoder.encoder.layer.5" in text
