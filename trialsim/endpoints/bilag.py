"""BILAG-2004-like organ grades A–E from the model's organ-domain activity.

The BILAG-2004 index (Isenberg DA et al., Rheumatology 2005;44:902; Yee CS et al., Arthritis
Rheum 2007;56:4113) grades each organ system A (severe activity: would need high-dose
steroids or immunosuppression), B (moderate), C (mild), D (previously involved, now
inactive) or E (never involved). trialsim grades the model's eight clinical organ domains
(:data:`DOMAINS`: the SLEDAI-2K domains without serology; neuro ≈ BILAG neuropsychiatric,
serosal ≈ cardiorespiratory, vascular = SLEDAI-2K vasculitis; the BILAG gastrointestinal and
ophthalmic systems are not modelled and are always E).

Each domain has a continuous grade score ``G`` with cut-points 3 (A), 2 (B), 1 (C):

* a domain **involved at baseline** (a clinical SLEDAI-2K item active at screening) scores
  ``G(t) = b + ln Z(t) / δ``, ``Z`` its clinical activity (1 at baseline), ``b`` its
  baseline score and ``δ`` the fall of log-activity that moves a domain one grade.
  ``b = μ + 0.5·(items − 1) + 0.5·N(0, 1)`` clipped to [1, 3.99], ``μ = 2.6`` in the
  organ-threatening domains (neuro, vascular, renal) and 2.3 elsewhere (assumed: most
  involved domains are B at trial entry, A more often in organ-threatening domains and with
  more items). ``δ`` = :data:`GRADE_STEP` = 1.2, fitted: the placebo BICLA of the 52-week
  standard-of-care protocol then follows TULIP-1/2 (simulated 19, 25, 27, 30% at weeks 4,
  8, 12, 52 against 18–21, 22–23, 28–32 and 31%); one grade is a 70% change of activity.
  Worsening counts: a renal B (b = 2.5) becomes A once renal activity exceeds e^(0.5·δ) =
  1.8 × baseline, one at b = 2.9 above 1.13 ×, and every domain can
  reach A. Below ``G = 1`` it is D.
* a domain **not involved at baseline** scores ``G(t) = g · max(Z(t) − 1, 0) / v``, ``v`` the
  lowest new-item threshold of the domain's SLEDAI-2K items (:mod:`trialsim.endpoints.visits`)
  and ``g = 3`` in organ-threatening domains, 2 elsewhere: the domain reaches B (A in an
  organ-threatening domain) exactly when its first SLEDAI-2K item appears, C a little before
  (mild features SLEDAI-2K does not score), and A in any domain when activity rises half as
  far again. Once it has been C or worse it is D, not E, when inactive.

Grades are stored as integers :data:`A` = 4 … :data:`E` = 0 (higher = more active) and written
as letters.
"""

from __future__ import annotations

import numpy as np

from trialsim import sledai

A, B, C, D, E = 4, 3, 2, 1, 0
LETTERS = np.array(["E", "D", "C", "B", "A"])
# The graded domains: every SLEDAI-2K domain but serology.
DOMAINS: tuple[str, ...] = tuple(d for d in sledai.DOMAINS if d != "serological")
DOMAIN_COLUMNS: np.ndarray = np.array([sledai.DOMAINS.index(d) for d in DOMAINS])
MAJOR: np.ndarray = np.array([d in sledai.MAJOR_DOMAINS for d in DOMAINS])

BASELINE_MEAN_MAJOR = 2.6   # assumed (see module docstring)
BASELINE_MEAN_OTHER = 2.3   # assumed
BASELINE_PER_ITEM = 0.5     # assumed
BASELINE_SD = 0.5           # assumed
GRADE_STEP = 1.2            # δ: log-activity per grade (fitted to TULIP placebo BICLA)
NEW_GAIN_MAJOR = 3.0        # a new organ-threatening domain is A when its first item appears
NEW_GAIN_OTHER = 2.0        # any other new domain is B then


def baseline_scores(active0: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Baseline grade scores ``b`` (n, 8): 0 where the domain is not involved.

    ``active0`` (n, 24) are the screening SLEDAI-2K items, ``noise`` (n, 8) standard normal.
    """
    items = np.stack([(active0 & sledai.CLINICAL)[:, d == sledai.DOMAIN_INDEX].sum(axis=1)
                      for d in DOMAIN_COLUMNS], axis=1)
    mu = np.where(MAJOR, BASELINE_MEAN_MAJOR, BASELINE_MEAN_OTHER)
    b = np.clip(mu + BASELINE_PER_ITEM * (items - 1) + BASELINE_SD * noise, 1.0, 3.99)
    return np.where(items > 0, b, 0.0)


def grade_scores(b: np.ndarray, z: np.ndarray, new_threshold: np.ndarray) -> np.ndarray:
    """Continuous grade scores ``G`` (n, v, 8) from baseline scores ``b`` (n, 8), domain
    activity ``z`` (n, v, 8) and each domain's new-item threshold ``v`` (n, 8)."""
    gain = np.where(MAJOR, NEW_GAIN_MAJOR, NEW_GAIN_OTHER)
    new = gain * np.maximum(z - 1.0, 0.0) / new_threshold[:, None, :]
    with np.errstate(divide="ignore"):
        involved = b[:, None, :] + np.log(z) / GRADE_STEP
    return np.where(b[:, None, :] > 0, involved, new)


def grades(scores: np.ndarray, involved0: np.ndarray) -> np.ndarray:
    """Letter grades as integers (n, v, 8): A/B/C by cut-points; below C a domain is D when
    involved at baseline or at any earlier visit, else E."""
    # Cut-points passed: 0 → E, 1 → C, 2 → B, 3 → A.
    passed = ((scores >= 1.0).astype(np.int8) + (scores >= 2.0) + (scores >= 3.0))
    g = np.where(passed > 0, passed + 1, E).astype(np.int8)
    ever = involved0[:, None, :] | (np.maximum.accumulate(g, axis=1) >= C)
    return np.where((g == E) & ever, D, g).astype(np.int8)


def new_a(grade0: np.ndarray, grade: np.ndarray) -> np.ndarray:
    """Domains graded A that were not A at baseline (the SRI's and BICLA's "new A").
    Arrays (..., 8); returns the count over domains."""
    return ((grade == A) & (grade0 != A)).sum(axis=-1)


def new_b(grade0: np.ndarray, grade: np.ndarray) -> np.ndarray:
    """Domains graded B that were C, D or E at baseline (a "new B"); count over domains."""
    return ((grade == B) & (grade0 < B)).sum(axis=-1)


def improved(grade0: np.ndarray, grade: np.ndarray) -> np.ndarray:
    """BICLA's BILAG criterion: every domain A at baseline is now B, C or D and every domain B
    at baseline is C or D (domains C, D or E at baseline need not change)."""
    return ((grade0 < B) | (grade < grade0)).all(axis=-1)
