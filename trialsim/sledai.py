"""The SLEDAI-2K instrument: descriptors, weights and organ domains.

Gladman DD, Ibañez D, Urowitz MB. Systemic lupus erythematosus disease activity index 2000.
J Rheumatol 2002;29:288-291. 24 descriptors, maximum score 105; a descriptor counts if present
at the visit or in the preceding 10 days.

The organ domains group descriptors the way BILAG-based endpoints (SRI-4's "no new BILAG A,
at most one new B"; BICLA) need them; the grouping follows the BILAG-2004 systems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Descriptor:
    """One SLEDAI-2K item: its name, weight and organ domain."""

    name: str
    weight: int
    domain: str


DOMAINS: tuple[str, ...] = (
    "neuro", "vascular", "musculoskeletal", "renal", "mucocutaneous", "serosal",
    "serological", "constitutional", "haematological",
)

# Domains whose new involvement we score as a new BILAG A (organ-threatening); new involvement
# elsewhere scores as a new BILAG B. This is the usual SRI-4 approximation when BILAG is not
# collected (Furie RA et al., Arthritis Rheum 2009;61:1143).
MAJOR_DOMAINS: frozenset[str] = frozenset({"neuro", "vascular", "renal"})

DESCRIPTORS: tuple[Descriptor, ...] = (
    Descriptor("seizure", 8, "neuro"),
    Descriptor("psychosis", 8, "neuro"),
    Descriptor("organic_brain_syndrome", 8, "neuro"),
    Descriptor("visual_disturbance", 8, "neuro"),
    Descriptor("cranial_nerve_disorder", 8, "neuro"),
    Descriptor("lupus_headache", 8, "neuro"),
    Descriptor("cva", 8, "neuro"),
    Descriptor("vasculitis", 8, "vascular"),
    Descriptor("arthritis", 4, "musculoskeletal"),
    Descriptor("myositis", 4, "musculoskeletal"),
    Descriptor("urinary_casts", 4, "renal"),
    Descriptor("hematuria", 4, "renal"),
    Descriptor("proteinuria", 4, "renal"),
    Descriptor("pyuria", 4, "renal"),
    Descriptor("rash", 2, "mucocutaneous"),
    Descriptor("alopecia", 2, "mucocutaneous"),
    Descriptor("mucosal_ulcers", 2, "mucocutaneous"),
    Descriptor("pleurisy", 2, "serosal"),
    Descriptor("pericarditis", 2, "serosal"),
    Descriptor("low_complement", 2, "serological"),
    Descriptor("increased_dna_binding", 2, "serological"),
    Descriptor("fever", 1, "constitutional"),
    Descriptor("thrombocytopenia", 1, "haematological"),
    Descriptor("leukopenia", 1, "haematological"),
)

NAMES: tuple[str, ...] = tuple(d.name for d in DESCRIPTORS)
WEIGHTS: np.ndarray = np.array([d.weight for d in DESCRIPTORS], dtype=int)
DOMAIN_INDEX: np.ndarray = np.array([DOMAINS.index(d.domain) for d in DESCRIPTORS], dtype=int)
SEROLOGY: tuple[int, int] = (NAMES.index("low_complement"), NAMES.index("increased_dna_binding"))
CLINICAL: np.ndarray = np.array([d.domain != "serological" for d in DESCRIPTORS])
assert WEIGHTS.sum() == 105  # the instrument's maximum (Gladman 2002)


def score(active: np.ndarray) -> np.ndarray:
    """SLEDAI-2K from a boolean array whose last axis is the 24 descriptors."""
    return active.astype(int) @ WEIGHTS


def domain_any(active: np.ndarray) -> np.ndarray:
    """Whether each organ domain has any active descriptor (last axis → len(DOMAINS))."""
    out = np.zeros(active.shape[:-1] + (len(DOMAINS),), dtype=bool)
    for k in range(len(DOMAINS)):
        out[..., k] = active[..., k == DOMAIN_INDEX].any(axis=-1)
    return out
