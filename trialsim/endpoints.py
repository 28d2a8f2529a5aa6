"""From model states to what a trial records: SLEDAI-2K items, PGA, and responder endpoints.

Observation model (per patient; ``Z_d(t)`` is the clinical activity of organ domain d, 1 at
baseline: the lagged domain state ``Y_d`` × entry-flare factor × new-flare factor):

* a descriptor active at baseline stays active while Z_d(t) > u, u ~ Uniform(0, 1) drawn once
  per patient and descriptor: a manifestation resolves once activity falls below its own
  threshold, so expected SLEDAI-2K falls in proportion to activity. The renal descriptors
  share one threshold per patient: proteinuria, haematuria, pyuria and casts are signs of one
  process (nephritis) and remit together;
* a descriptor absent at baseline appears while Z_d(t) > 1 + v/q, v ~ Exponential(0.1) and q its
  prevalence in the candidate pool (:data:`trialsim.cohort.DESCRIPTOR_PREVALENCE`): common
  manifestations are the ones that appear in a flare (assumed);
* serology is mechanistic: anti-dsDNA(t) = baseline titre × A(t), "increased DNA binding"
  while ≥ the assay cut-off; C3(t) = C3₀ + max(1.2 − C3₀, 0)·(1 − A(t)·X(t)·c(t)) (complement
  consumption follows immune complexes and current inflammation, c(t) being the entry-flare
  × new-flare factor; 1.2 g/L the middle of the normal range, assumed),
  "low complement" while < 0.9 g/L;
* PGA(t) = PGA₀ × mean Z over the patient's baseline domains + Normal(0, 0.3), clipped to
  0-3 (assessor noise assumed).

Responder endpoints (at a visit, against baseline):

* SRI-4 (Furie RA et al., Arthritis Rheum 2009;61:1143): SLEDAI-2K reduction ≥ 4; no new
  BILAG A and ≤ 1 new BILAG B; PGA worsening < 0.3. BILAG is approximated by organ domains:
  a newly involved neuro, vascular or renal domain counts as a new A, any other newly involved
  domain as a new B. SRI-6 is the same with a reduction ≥ 6.
* BICLA-like (Wallace DJ et al., 2011): every domain active at baseline improved — its
  SLEDAI-2K points fell, or its activity Z_d fell by at least 40% (a BILAG grade step,
  A → B or B → C, without full resolution; assumed) — no new A and ≤ 1 new B, no SLEDAI-2K
  worsening, PGA worsening < 0.3 (10% of the 0-3 scale); dropout is treatment failure.
* Renal complete remission: no active renal descriptor, among patients renal at baseline.

Patients who dropped out before a visit have no value there and are non-responders for
responder endpoints at or after their dropout (the protocol's ``missing = "non-responder"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsim import sledai
from trialsim.cohort import C3_LOW_G_L, DESCRIPTOR_PREVALENCE, DSDNA_CUTOFF_IU, Cohort
from trialsim.model.dynamics import Trajectory

C3_NORMAL_G_L = 1.2   # middle of the normal range (0.9-1.8 g/L); assumed target of recovery
_NEW_THRESHOLD_MEAN = 0.1
_PGA_NOISE_SD = 0.3
_PGA_WORSENING = 0.3
_BILAG_STEP = 0.6   # domain activity at or below this counts as a BILAG grade improvement
_RENAL = sledai.DOMAINS.index("renal") == sledai.DOMAIN_INDEX
_DOMAIN_OF = sledai.DOMAIN_INDEX
_MAJOR = np.array([d in sledai.MAJOR_DOMAINS for d in sledai.DOMAINS])


@dataclass(frozen=True)
class VisitRecords:
    """What the trial recorded at each visit (arrays of shape (n, visits[, 24]))."""

    weeks: np.ndarray
    active: np.ndarray      # (n, v, 24) descriptor active
    sledai: np.ndarray      # (n, v) SLEDAI-2K
    pga: np.ndarray         # (n, v)
    anti_dsdna: np.ndarray  # (n, v) IU/mL
    c3: np.ndarray          # (n, v) g/L
    observed: np.ndarray    # (n, v) False after dropout
    domain_activity: np.ndarray  # (n, v, 9) clinical activity Z_d, 1 at baseline

    def week_index(self, week: float) -> int:
        return int(np.flatnonzero(self.weeks == week)[0])


def record_visits(cohort: Cohort, traj: Trajectory, clinical_factor: np.ndarray,
                  dropout_day: np.ndarray, rng: np.random.Generator,
                  assessor: float = 1.0) -> VisitRecords:
    """Score every visit of every patient from the model trajectory.

    ``clinical_factor`` (n, v) multiplies every domain's activity: entry flare × new flares.
    ``assessor`` (the trial's assessor behaviour, :mod:`trialsim.model.trial_effects`)
    multiplies the clinical activity that descriptors and PGA are scored from after baseline;
    serology is measured, not judged, and does not see it.
    """
    base = cohort.descriptors                                     # (n, 24)
    n, v = base.shape[0], traj.days.size
    pts = cohort.patients
    judged = np.where(traj.days[None, :] > 0, assessor, 1.0) * clinical_factor
    z = traj.Y[:, :, _DOMAIN_OF] * judged[:, :, None]              # (n, v, 24)
    u = rng.random((n, 1, base.shape[1]))
    u[:, :, _RENAL] = u[:, :, _RENAL][:, :, :1]
    w = rng.exponential(_NEW_THRESHOLD_MEAN, (n, 1, base.shape[1])) / DESCRIPTOR_PREVALENCE
    active = np.where(base[:, None, :], z > u, z > 1.0 + w)

    dsdna = pts["anti_dsdna0"].to_numpy()[:, None] * traj["A"]
    c3_0 = pts["c3_0"].to_numpy()[:, None]
    complexes = traj["A"] * traj["X"] * clinical_factor
    c3 = c3_0 + np.maximum(C3_NORMAL_G_L - c3_0, 0.0) * (1.0 - complexes)
    active[:, :, sledai.SEROLOGY[0]] = c3 < C3_LOW_G_L
    active[:, :, sledai.SEROLOGY[1]] = dsdna >= DSDNA_CUTOFF_IU
    active[:, 0, :] = base                                         # baseline is as screened

    domains0 = sledai.domain_any(base & sledai.CLINICAL)           # (n, 9)
    zdom = traj.Y * judged[:, :, None]                             # (n, v, 9)
    zdom[:, 0, :] = 1.0
    weights = domains0[:, None, :].astype(float)
    has = weights.sum(axis=2) > 0
    zbar = np.where(has, (zdom * weights).sum(axis=2) / np.maximum(weights.sum(axis=2), 1),
                    traj["X"] * judged)
    pga0 = pts["pga0"].to_numpy()[:, None]
    noise = rng.normal(0.0, _PGA_NOISE_SD, (n, v))
    noise[:, 0] = 0.0
    pga = np.clip(pga0 * zbar + noise, 0.0, 3.0)

    observed = traj.days[None, :] <= dropout_day[:, None]
    return VisitRecords(weeks=traj.days / 7.0, active=active, sledai=sledai.score(active),
                        pga=pga, anti_dsdna=dsdna, c3=c3, observed=observed,
                        domain_activity=zdom)


def _new_bilag(rec: VisitRecords, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of newly involved major (≈ new BILAG A) and other (≈ new B) domains at visit k."""
    before = sledai.domain_any(rec.active[:, 0, :] & sledai.CLINICAL)
    now = sledai.domain_any(rec.active[:, k, :] & sledai.CLINICAL)
    new = now & ~before
    return (new & _MAJOR).sum(axis=1), (new & ~_MAJOR).sum(axis=1)


def sri(rec: VisitRecords, week: float, reduction: int = 4) -> np.ndarray:
    """SRI-k responders at ``week`` (bool per patient; dropouts are non-responders)."""
    k = rec.week_index(week)
    new_a, new_b = _new_bilag(rec, k)
    ok = ((rec.sledai[:, 0] - rec.sledai[:, k] >= reduction)
          & (new_a == 0) & (new_b <= 1)
          & (rec.pga[:, k] - rec.pga[:, 0] < _PGA_WORSENING))
    return ok & rec.observed[:, k]


def bicla(rec: VisitRecords, week: float) -> np.ndarray:
    """BICLA-like responders at ``week`` (see module docstring)."""
    k = rec.week_index(week)
    w = sledai.WEIGHTS
    pts0 = np.zeros((rec.sledai.shape[0], len(sledai.DOMAINS)))
    ptsk = np.zeros_like(pts0)
    for d in range(len(sledai.DOMAINS)):
        cols = (d == _DOMAIN_OF) & sledai.CLINICAL
        pts0[:, d] = rec.active[:, 0, cols].astype(int) @ w[cols]
        ptsk[:, d] = rec.active[:, k, cols].astype(int) @ w[cols]
    graded = rec.domain_activity[:, k, :] <= _BILAG_STEP
    improved = np.where(pts0 > 0, (ptsk < pts0) | graded, True).all(axis=1)
    new_a, new_b = _new_bilag(rec, k)
    ok = (improved & (new_a == 0) & (new_b <= 1) & (rec.sledai[:, k] <= rec.sledai[:, 0])
          & (rec.pga[:, k] - rec.pga[:, 0] < _PGA_WORSENING))
    return ok & rec.observed[:, k]


def renal_complete_remission(rec: VisitRecords, week: float) -> tuple[np.ndarray, np.ndarray]:
    """(eligible, responder): renal at baseline; no renal descriptor active at ``week``."""
    k = rec.week_index(week)
    eligible = rec.active[:, 0, _RENAL].any(axis=1)
    remission = ~rec.active[:, k, _RENAL].any(axis=1) & rec.observed[:, k]
    return eligible, eligible & remission


def responders(rec: VisitRecords, endpoint: str, week: float) -> np.ndarray:
    """The protocol's primary responder endpoint at ``week``."""
    if endpoint == "sri4":
        return sri(rec, week, 4)
    if endpoint == "sri6":
        return sri(rec, week, 6)
    if endpoint == "bicla":
        return bicla(rec, week)
    raise ValueError(f"unknown endpoint {endpoint!r}")
