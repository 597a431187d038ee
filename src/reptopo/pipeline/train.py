"""The standard, seeded training recipe: deterministic on CPU for a fixed seed."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..registry import TrainRecipe
from .models import tokenize


@dataclass
class TrainResult:
    """What training gave; the accuracies and losses are None where there was nothing to fit
    (:func:`unfitted`: an unlabelled task)."""

    train_accuracy: float | None
    test_accuracy: float | None
    train_loss: float | None
    test_loss: float | None
    epochs_run: int
    seconds: float
    history: list[dict]


def unfitted() -> TrainResult:
    """The training of a frozen model on an unlabelled task: none, and no score."""
    return TrainResult(None, None, None, None, 0, 0.0, [])


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


def as_tensor(x, is_text: bool, max_length: int = 64, model: nn.Module | None = None) -> torch.Tensor:
    """Images and signals as float32; texts as token ids: the ``model``'s own tokenizer where it
    has one (a hub model's ``tokenize``), else the MiniLM WordPiece ids the trained models read."""
    if not is_text:
        return torch.as_tensor(np.asarray(x, dtype=np.float32))
    own = getattr(model, "tokenize", None)
    return own(list(x)) if callable(own) else tokenize(x, max_length)


def corrupt_labels(y: np.ndarray, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """Replace a ``fraction`` of labels by a different class, drawn by ``seed``."""
    y = y.copy()
    if fraction <= 0:
        return y
    rng = np.random.default_rng([seed, 17])
    idx = rng.choice(len(y), int(round(fraction * len(y))), replace=False)
    y[idx] = (y[idx] + rng.integers(1, num_classes, len(idx))) % num_classes
    return y


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> tuple[float, float]:
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch_size):
        out = model(x[i : i + batch_size])
        loss += nn.functional.cross_entropy(out, y[i : i + batch_size], reduction="sum").item()
        correct += (out.argmax(1) == y[i : i + batch_size]).sum().item()
    return correct / len(y), loss / len(y)


def classifier_head(model: nn.Module) -> nn.Module:
    return model.get_submodule("head") if hasattr(model, "head") else model.get_submodule("net").get_classifier()  # type: ignore[operator]


@torch.no_grad()
def head_inputs(model: nn.Module, head: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """What the frozen backbone hands the head, for every input (one pass, no gradients)."""
    model.eval()
    feats = []
    hook = head.register_forward_pre_hook(lambda _m, args: feats.append(args[0].detach()))
    try:
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
    finally:
        hook.remove()
    return torch.cat(feats)


def train(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    recipe: TrainRecipe,
    *,
    seed: int,
    frozen_backbone: bool = False,
    checkpoint_epochs: tuple[int, ...] = (),
    on_checkpoint=None,
    deadline=None,
) -> TrainResult:
    """Train with ``recipe``; ``on_checkpoint(epoch, model)`` is called after each listed epoch.

    With ``frozen_backbone`` only the classifier head learns (a fitted linear head).
    ``deadline`` (a :class:`reptopo.limits.Deadline`): checked after every epoch; when it is spent
    training stops with :class:`reptopo.limits.BudgetExceeded` naming the epoch.
    """
    gen = seed_everything(seed)
    start = time.perf_counter()
    net, inputs = model, x_train
    if frozen_backbone:
        # A frozen backbone is run once; its features fit the linear head (the same loop).
        for p in model.parameters():
            p.requires_grad_(False)
        net = classifier_head(model)
        for p in net.parameters():
            p.requires_grad_(True)
        inputs = head_inputs(model, net, x_train)
    params = [p for p in net.parameters() if p.requires_grad]
    opt: torch.optim.Optimizer
    if recipe.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, weight_decay=recipe.weight_decay)
    steps = max(1, recipe.epochs * -(-len(y_train) // recipe.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if recipe.schedule == "cosine" else None
    history, epochs_run = [], 0
    # measuring at a checkpoint is not training: its time never counts against max_seconds (the
    # v3 measures take longer, and once cut the seed-0 runs of the 2,000-point tasks to 5 epochs)
    measuring = 0.0

    def checkpoint(epoch):
        nonlocal measuring
        started = time.perf_counter()
        on_checkpoint(epoch, model)
        measuring += time.perf_counter() - started

    if 0 in checkpoint_epochs and on_checkpoint:
        checkpoint(0)
    for epoch in range(1, recipe.epochs + 1):
        net.train()
        order = torch.randperm(len(y_train), generator=gen)
        total = 0.0
        for i in range(0, len(order), recipe.batch_size):
            idx = order[i : i + recipe.batch_size]
            loss = nn.functional.cross_entropy(net(inputs[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched:
                sched.step()
            total += loss.item() * len(idx)
        epochs_run = epoch
        history.append({"epoch": epoch, "train_loss_running": total / len(order)})
        if epoch in checkpoint_epochs and on_checkpoint:
            checkpoint(epoch)
        if deadline is not None and epoch < recipe.epochs:
            deadline.check(f"training after epoch {epoch} of {recipe.epochs}")
        if time.perf_counter() - start - measuring > recipe.max_seconds:
            break
    seconds = time.perf_counter() - start
    # A frozen backbone's training features are already at hand: score the head on them.
    train_acc, train_loss = evaluate(net, inputs, y_train) if frozen_backbone else evaluate(model, x_train, y_train)
    test_acc, test_loss = evaluate(model, x_test, y_test)
    return TrainResult(train_acc, test_acc, train_loss, test_loss, epochs_run, seconds, history)
