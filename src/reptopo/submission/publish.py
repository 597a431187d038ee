"""Publishing a verified bundle: the record the store keeps is built from what was measured here.

**What publish stores.** Only what was measured here (:func:`publish`): the record is built from
the re-measurement, never copied from the bundle's ``record.json``. The submitter's claim is kept
apart under ``STORE/submitted/`` and never read by the analysis or the site. Names belong to the
store: an entry is published as ``SUBMITTER.NAME`` (``--submitter``), a bundle may not take a
shipped entry's name, and job ids are derived from the entry, task and seed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ..errors import SubmissionError
from ..limits import (
    VERIFY_BUDGET_SECONDS,
    clip,
    short,
)
from ..names import NAME_PATTERN
from ..record import Record
from ..store import ResultStore, atomic_write_bytes
from .bundle import WEIGHTS_FILE, check_bundle_entry, check_manifest, read_environment, registry_models
from .verify import verify


def publish(
    bundle: str | Path,
    store: str | Path,
    *,
    submitter: str,
    registry_spec: str | Path | None = None,
    retrain: bool = False,
    trust_builder: str | None = None,
    budget: float | None = VERIFY_BUDGET_SECONDS,
) -> Record:
    """What a maintainer runs on a pull request: verify ``bundle`` and add what was measured to ``store``.

    **Names belong to the store.** The entry is published as ``SUBMITTER.NAME`` (``submitter``: the
    pull request's author, a handle without '.'), with ``submitted_by`` set, so that it can never
    be a shipped entry's name, a benchmark job's id or another submitter's. A bundle whose entry
    takes a registry entry's name is refused, and so is a second entry under a name already in
    the store (unless it is the same entry byte for byte). The job id is derived from the
    entry, task and seed.

    **The record holds only what was measured here.** Built from the re-measurement: the final
    layers, accuracies and losses of the checkpoint, ``n_parameters`` and ``weight_l2`` of its
    weights, its sha256, the diagrams and the digest, all computed here (for an activations
    bundle: the measures of the activations; the accuracies are the submitter's and the record is
    ``self_reported``). The training history and the layers measured during training are
    re-derived only by ``retrain``; otherwise they are left out. The bundle's ``record.json`` is
    kept apart as ``STORE/submitted/JOB.claimed.json`` with the verification's summary
    (``JOB.verification.json``); the analysis and the site never read that folder.

    A bundle that does not verify, or whose record does not validate, is refused and nothing
    is written. The checkpoint goes to ``STORE/checkpoints/`` so that the store can be verified
    by measurement later; the entry to ``STORE/entries/models/`` as data: its
    'module:function' builder runs later only under ``--trust-builder``.
    """
    import yaml

    from ..registry import SUBMITTER_PATTERN, ModelEntry

    bundle, target = Path(bundle), ResultStore(store)
    registry_spec = str(registry_spec or "")
    if not isinstance(submitter, str) or not SUBMITTER_PATTERN.fullmatch(submitter):
        raise SubmissionError(
            f"--submitter: {short(submitter)} is not a handle: letters, digits, '_' and '-' (no '.'), at most 39"
        )
    manifest = check_manifest(bundle)
    env = read_environment(bundle)
    entry = check_bundle_entry(
        bundle, manifest, trust_builder=trust_builder, builds=not env.activations, registry_spec=registry_spec
    )
    if entry.pretrained is not None and entry.pretrained.source == "checkpoint":
        raise SubmissionError(
            f"{bundle / 'entry.yaml'}: pretrained.path: an entry built on a bundled checkpoint is verified, "
            "not published (its weights would leave the bundle)"
        )
    name = f"{submitter}.{entry.name}"
    if not NAME_PATTERN.fullmatch(name) or name in registry_models(registry_spec):
        raise SubmissionError(f"{bundle / 'entry.yaml'}: name: {short(name)} cannot be published (too long, or taken)")
    stored = entry.model_dump(mode="json", exclude_unset=True) | {"name": name, "submitted_by": submitter}
    ModelEntry.model_validate(stored)
    entry_text = yaml.safe_dump(stored, sort_keys=False).encode()
    entry_file = target.root / "entries" / "models" / f"{name}.yaml"
    if entry_file.exists() and entry_file.read_bytes() != entry_text:
        raise SubmissionError(
            f"{entry_file}: {submitter} already published {entry.name!r} with another entry; publish it under a new name"
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = verify(
            bundle,
            registry_spec=registry_spec,
            retrain=retrain,
            reference=target.root if (target.root / "records").is_dir() else None,
            trust_builder=trust_builder,
            model_name=name,
            budget=budget,
            workdir=Path(tmp),
        )
        if result.problems:
            raise SubmissionError(
                f"{bundle}: verification failed, not published: {len(result.problems)} score(s) differ, "
                f"first {clip(result.problems[0])}"
            )
        if not result.passed:
            raise SubmissionError(
                f"{bundle}: verification could not judge it, not published: {clip('; '.join(result.describe()))}"
            )
        rec = result.record
        if target.has(rec.job_id):
            raise SubmissionError(
                f"{target.record_path(rec.job_id)}: already in the store; remove it first to replace it"
            )
        atomic_write_bytes(entry_file, entry_text)
        if rec.checkpoint_sha256 is not None:
            source = bundle / WEIGHTS_FILE
            if not source.is_file():  # retrained here: the run's own checkpoint
                source = ResultStore(Path(tmp) / "retrain").checkpoint_path(rec.job_id)
            target.checkpoint_path(rec.job_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target.checkpoint_path(rec.job_id))
        apart = target.root / "submitted"
        atomic_write_bytes(apart / f"{rec.job_id}.claimed.json", (bundle / "record.json").read_bytes())
        summary = {
            "job_id": rec.job_id,
            "submitter": submitter,
            "provenance": rec.provenance,
            "verified_by": list(result.kinds),
            "verdict": result.describe(),
            "claimed_digest": result.claimed_digest,
            "published_digest": rec.digest,
            "bundle_manifest": manifest,
        }
        atomic_write_bytes(apart / f"{rec.job_id}.verification.json", json.dumps(summary, indent=1).encode())
        target.write(rec, result.diagrams)
    return Record.from_disk(target.record_path(rec.job_id))
