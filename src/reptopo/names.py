"""The names a record and an entry hold, checked where they are read: entry names, layer names
and layer roles. Light (the standard library and pydantic): the record imports it without the
registry's YAML loading."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AfterValidator

# Names are shown in page titles, headings, links and file names: letters, digits, '_', '-' and
# '.', starting with a letter or digit, at most 100 characters. Anything else is refused.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_name(value: str) -> str:
    """``value`` if it is a valid name (:data:`NAME_PATTERN`); a ValueError saying why otherwise."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits, '_', '-' and '.' only "
            "(starting with a letter or digit, at most 100 characters)"
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]
# a module's name in a built model (``named_modules``: 'layer1.0.conv', 'blocks.3'), or 'input': it
# reaches file names, diagram keys and figures, so nothing else is accepted
LAYER_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$"

# what a layer is in its model: the record, the site and the analysis read it
Role = Literal["input", "stem", "block", "attention_block", "pooling", "head"]

# how a layer's output becomes one vector per input (reptopo.pipeline.probe says how each is made):
# 'raw' a vector as is; 'flat' and 'gap' a feature map flattened or averaged over its positions;
# 'mean', 'cls' and 'last' a token sequence averaged over its real tokens, or its first or last
# real token (a decoder's summary of the text)
Pooling = Literal["raw", "flat", "gap", "mean", "cls", "last"]


def nearest(name: str, known: Iterable[str], n: int = 5) -> list[str]:
    """Up to ``n`` of ``known`` closest to ``name`` (difflib's ratio), for 'did you mean' lines;
    the first ``n`` in order when none is close."""
    import difflib

    ordered = sorted(known)
    close = difflib.get_close_matches(name, ordered, n=n, cutoff=0.5)
    lowered = name.lower()
    close += [k for k in ordered if lowered in k.lower() and k not in close]
    return close[:n] or ordered[:n]
