"""The recorded response bodies (tests/azure-sim/shapes/, copied from shared/azure-shapes/, where
its README says which request produced each). Handlers start from a deep copy of one of these
and only replace names, ids and values; they never invent a field."""

from __future__ import annotations

import copy
import functools
import json
import os

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "shapes")


@functools.lru_cache(maxsize=None)
def _load(name: str):
    with open(os.path.join(HERE, name)) as f:
        if name.endswith(".ndjson"):
            return [json.loads(line) for line in f if line.strip()]
        return json.load(f)


def shape(name: str):
    """A fresh deep copy of `shapes/<name>` (`.json` added when missing)."""
    if "." not in name:
        name += ".json"
    return copy.deepcopy(_load(name))
