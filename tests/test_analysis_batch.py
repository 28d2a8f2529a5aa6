"""The batched analysis of many replicates (trialsim.stats.analysis_batch) gives, replicate
by replicate, the analysis of the reference path (trialsim.stats.analysis.analyse_trial:
scipy and statsmodels per trial): floats to 1e-9 relative, everything else identical."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trialsim.protocol import load_protocol
from trialsim.stats.analysis import analyse_trial
from trialsim.stats.analysis_batch import analyse_trials
from trialsim.stats.endpoint_data import EndpointData
from trialsim.trial import analyse, simulate_trials

PROTOCOLS = sorted((Path(__file__).parent.parent / "protocols").glob("*.toml"))
RTOL = 1e-9


def _same(a: Any, b: Any, where: str) -> None:
    """Recursive equality of result objects: floats to RTOL (NaN equals NaN)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (float, int)) and isinstance(b, (float, int)), where
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            assert math.isnan(fa) and math.isnan(fb), f"{where}: {a} != {b}"
        else:
            assert fa == fb or abs(fa - fb) <= RTOL * max(abs(fa), abs(fb)), \
                f"{where}: {a!r} != {b!r}"
        return
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), f"{where}: {a} != {b}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
        return
    if hasattr(a, "__dataclass_fields__"):
        assert type(a) is type(b), where
        for f in fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
        return
    assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def assert_same_analyses(got: list, expected: list) -> None:
    assert len(got) == len(expected)
    for r, (g, e) in enumerate(zip(got, expected, strict=True)):
        _same(g, e, f"replicate {r}")
