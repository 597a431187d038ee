"""Submitting a model, verifying a submission and publishing it.

- :mod:`.bundle`: the bundle's format and the checks that run before anything in it is used;
- :mod:`.submit`: making a bundle (a trained entry, or activations);
- :mod:`.verify`: a bundle or a stored record measured again (or retrained) and judged;
- :mod:`.publish`: a verified bundle into a store, with the record built from what was measured;
- :mod:`.reproduce`: what is float noise and what is a discrepancy (the measured tolerances).

The tolerances and the study that set them: ``docs/verification.md``.
"""

from .bundle import ACTIVATIONS_FILE, BUNDLE_FILES, WEIGHTS_FILE, check_bundle_entry, check_manifest
from .publish import publish
from .submit import submit, submit_activations
from .verify import Verification, check_measurement, verify, verify_record

__all__ = [
    "ACTIVATIONS_FILE",
    "BUNDLE_FILES",
    "WEIGHTS_FILE",
    "Verification",
    "check_bundle_entry",
    "check_manifest",
    "check_measurement",
    "publish",
    "submit",
    "submit_activations",
    "verify",
    "verify_record",
]
