"""What a trial records at its visits: SLEDAI-2K items, PGA, BILAG-like grades, serology.

Observation model (per patient; ``Z_d(t)`` is the clinical activity of organ domain d, 1 at
baseline: the lagged domain state ``Y_d`` × entry-flare factor × new-flare factor, times the
trial's assessor factor after baseline):

* a descriptor active at baseline stays active while Z_d(t) > u, u ~ Uniform(0, 1) drawn once
  per patient and descriptor: a manifestation resolves once activity falls below its own
  threshold, so expected SLEDAI-2K falls in proportion to activity. The renal descriptors
  share one threshold per patient: proteinuria, haematuria, pyuria and casts are signs of one
  process (nephritis) and remit together;
* a descriptor absent at baseline appears while Z_d(t) > 1 + w, w ~ Exponential(0.1)/q and q its
  prevalence in the candidate pool (:data:`trialsim.cohort.DESCRIPTOR_PREVALENCE`): common
  manifestations are the ones that appear in a flare (assumed);
* serology is mechanistic: anti-dsDNA(t) = baseline titre × A(t), "increased DNA binding"
  while ≥ the assay cut-off; C3(t) = C3₀ + max(1.2 − C3₀, 0)·(1 − A(t)·X(t)·c(t)) (complement
  consumption follows immune complexes and current inflammation, c(t) being the entry-flare
  × new-flare factor; 1.2 g/L the middle of the normal range, assumed),
  "low complement" while < 0.9 g/L;
* BILAG-2004-like grades A–E of the eight clinical domains from Z_d (:mod:`.bilag`);
* PGA: the screening PGA is one assessment, PGA₀ = T + ε₀, of a latent level T; at every
  later visit PGA(t) = clip(T × mean Z over the patient's baseline domains + ε_t, 0, 3),
  recorded to 0.01. The assessor errors ε₀, ε_t ~ Normal(0, 0.15) are independent and
  symmetric, so a stable patient's recorded change has SD 0.15·√2 = 0.21 and crosses the
  SRI's +0.3 "worsening" by noise alone with probability 1 − Φ(0.3/0.21) = 7.9%.
  The 0.15 (an occasion-to-occasion error of the same assessor) is about 9% of the
  between-patient PGA variance of trial cohorts (SD 0.5, BLISS): Liang MH et al., Arthritis
  Rheum 1989;32:1107 attribute 5–16% of the variance of SLE activity scores to visit-to-visit
  differences (0.11–0.20 here). Different assessors disagree more — the inter-rater
  ICC(2,1) of PGA is ≈ 0.6–0.72 (Aranow C et al., Ann Rheum Dis 2020;79:787, single-rater
  values in the authors' reply, ARD 2022;81:e80), an error SD near 0.5 on vignettes of SD
  ≈ 1 — which is why trial protocols keep one assessor per patient; that case is not
  simulated.
* Treg (flow cytometry, × baseline) as the model state R, recorded to 1e-4.

Every value a :class:`VisitRecords` holds is exactly what ``visits.csv`` writes for the
observed visits (:func:`visit_table`, :func:`records_from_tables`), so every endpoint can be
recomputed from the written tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from trialsim import sledai
from trialsim.cohort import C3_LOW_G_L, DESCRIPTOR_PREVALENCE, DSDNA_CUTOFF_IU, Cohort
from trialsim.endpoints import bilag
from trialsim.model.dynamics import Trajectory

C3_NORMAL_G_L = 1.2   # middle of the normal range (0.9-1.8 g/L); assumed target of recovery
_NEW_THRESHOLD_MEAN = 0.1
PGA_NOISE_SD = 0.15   # per assessment, baseline included (see module docstring)
_RENAL = sledai.DOMAINS.index("renal") == sledai.DOMAIN_INDEX
ITEM_COLUMNS: tuple[str, ...] = tuple(f"sledai_{n}" for n in sledai.NAMES)
GRADE_COLUMNS: tuple[str, ...] = tuple(f"bilag_{d}" for d in bilag.DOMAINS)


@dataclass(frozen=True)
class VisitRecords:
    """What the trial recorded at each visit (arrays of shape (n, visits[, …])).

    Values exist at every visit (the latent course); ``observed`` says which were recorded
    (False after dropout) and endpoints read only those. ``rescue`` is True from the visit
    at which rescue therapy was given. ``latent`` holds model quantities that no visit
    records (written only to the opt-in latent table).
    """

    weeks: np.ndarray
    active: np.ndarray      # (n, v, 24) SLEDAI-2K descriptor active
    sledai: np.ndarray      # (n, v) SLEDAI-2K
    pga: np.ndarray         # (n, v) 0-3, to 0.01
    anti_dsdna: np.ndarray  # (n, v) IU/mL
    c3: np.ndarray          # (n, v) g/L
    observed: np.ndarray    # (n, v) False after dropout
    bilag: np.ndarray       # (n, v, 8) grades E=0 … A=4 (trialsim.endpoints.bilag)
    treg: np.ndarray        # (n, v) × baseline
    rescue: np.ndarray | None = None   # (n, v) rescue therapy given at or before the visit
    latent: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.rescue is None:
            object.__setattr__(self, "rescue", np.zeros(self.sledai.shape, dtype=bool))

    @property
    def n(self) -> int:
        return int(self.sledai.shape[0])

    @cached_property
    def derived(self) -> dict[str, Any]:
        """Quantities several endpoints derive from these records (flares, BILAG
        worsening), computed once per records object. A changed copy
        (:func:`dataclasses.replace`) is a new object and starts empty."""
        return {}

    def week_index(self, week: float) -> int:
        hit = np.flatnonzero(self.weeks == week)
        if not hit.size:
            raise ValueError(f"week {week:g} is not a visit week {list(self.weeks)}")
        return int(hit[0])

    def take(self, rows: slice) -> VisitRecords:
        """The records of patients ``rows`` (one replicate of a batch scored together)."""
        return replace(self, active=self.active[rows], sledai=self.sledai[rows],
                       pga=self.pga[rows], anti_dsdna=self.anti_dsdna[rows], c3=self.c3[rows],
                       observed=self.observed[rows], bilag=self.bilag[rows],
                       treg=self.treg[rows], rescue=self.rescue[rows],
                       latent={k: v[rows] for k, v in self.latent.items()})

    def with_conduct(self, observed: np.ndarray, rescue: np.ndarray) -> VisitRecords:
        """The same records with who was seen when, and who was rescued, replaced."""
        return replace(self, observed=observed, rescue=rescue)

    def visible(self) -> VisitRecords:
        """Only what was recorded: values at unobserved visits blanked (NaN, False, E), so
        anything computed from the result depends only on the written tables."""
        o = self.observed
        return replace(
            self, active=self.active & o[:, :, None], sledai=np.where(o, self.sledai, 0),
            pga=np.where(o, self.pga, np.nan), anti_dsdna=np.where(o, self.anti_dsdna, np.nan),
            c3=np.where(o, self.c3, np.nan), bilag=np.where(o[:, :, None], self.bilag, 0),
            treg=np.where(o, self.treg, np.nan), rescue=self.rescue & o, latent={})


def record_visits(cohort: Cohort, traj: Trajectory, clinical_factor: np.ndarray,
                  dropout_day: np.ndarray, rng: np.random.Generator,
                  assessor: float | np.ndarray = 1.0) -> VisitRecords:
    """Score every visit of every patient from the model trajectory.

    ``clinical_factor`` (n, v) multiplies every domain's activity: entry flare × new flares.
    ``assessor`` (the trial's assessor behaviour, :mod:`trialsim.model.trial_effects`; one
    value, or one per patient when several trials are scored together) multiplies the
    clinical activity that descriptors, BILAG grades and PGA are scored from
    after baseline; serology is measured, not judged, and does not see it. ``rng`` draws, in
    this order: descriptor resolution thresholds, new-descriptor thresholds, PGA assessor
    errors (one per visit, baseline included), BILAG baseline scores.
    """
    base = cohort.descriptors                                     # (n, 24)
    n, v = base.shape[0], traj.days.size
    pts = cohort.columns
    after = np.reshape(assessor, (-1, 1))                          # (1 or n, 1)
    judged = np.where(traj.days[None, :] > 0, after, 1.0) * clinical_factor
    zdom = traj.Y * judged[:, :, None]                             # (n, v, 9)
    z = np.take(zdom, sledai.DOMAIN_INDEX, axis=2)                 # (n, v, 24)
    u = np.array(rng.random((n, 1, base.shape[1])))
    u[:, :, _RENAL] = u[:, :, _RENAL][:, :, :1]
    w = rng.exponential(_NEW_THRESHOLD_MEAN, (n, 1, base.shape[1])) / DESCRIPTOR_PREVALENCE
    # Present at baseline: active while above its resolution threshold; absent: active
    # while above its appearance threshold.
    active = z > np.where(base[:, None, :], u, 1.0 + w)

    dsdna = np.asarray(pts["anti_dsdna0"], dtype=float)[:, None] * traj["A"]
    c3_0 = np.asarray(pts["c3_0"], dtype=float)[:, None]
    complexes = traj["A"] * traj["X"] * clinical_factor
    c3 = c3_0 + np.maximum(C3_NORMAL_G_L - c3_0, 0.0) * (1.0 - complexes)
    active[:, :, sledai.SEROLOGY[0]] = c3 < C3_LOW_G_L
    active[:, :, sledai.SEROLOGY[1]] = dsdna >= DSDNA_CUTOFF_IU
    active[:, 0, :] = base                                         # baseline is as screened

    domains0 = sledai.domain_any(base & sledai.CLINICAL)           # (n, 9)
    zdom[:, 0, :] = 1.0
    weights = domains0[:, None, :].astype(float)
    has = weights.sum(axis=2) > 0
    zbar = np.where(has, (zdom * weights).sum(axis=2) / np.maximum(weights.sum(axis=2), 1),
                    traj["X"] * judged)
    zbar[:, 0] = 1.0
    pga0 = np.asarray(pts["pga0"], dtype=float)
    eps = rng.normal(0.0, PGA_NOISE_SD, (n, v))
    level = np.maximum(pga0 - eps[:, 0], 0.0)                      # latent T = PGA₀ − ε₀
    pga = np.round(np.clip(level[:, None] * zbar + eps, 0.0, 3.0), 2)
    pga[:, 0] = pga0                                               # baseline is as screened

    # BILAG: a domain's new-involvement threshold is its lowest new-item threshold.
    w_dom = np.stack([np.where(sledai.CLINICAL & (d == sledai.DOMAIN_INDEX), w[:, 0, :],
                               np.inf).min(axis=1) for d in bilag.DOMAIN_COLUMNS], axis=1)
    b0 = bilag.baseline_scores(base, rng.standard_normal((n, len(bilag.DOMAINS))))
    zgraded = zdom[:, :, bilag.DOMAIN_COLUMNS]
    grades = bilag.grades(bilag.grade_scores(b0, zgraded, w_dom), b0 > 0)

    observed = traj.days[None, :] <= dropout_day[:, None]
    return VisitRecords(weeks=traj.days / 7.0, active=active, sledai=sledai.score(active),
                        pga=pga, anti_dsdna=dsdna, c3=c3, observed=observed, bilag=grades,
                        treg=np.round(traj["R"], 4),
                        latent={"activity": zbar, "domain_activity": zdom})


def visit_table(rec: VisitRecords, ids: np.ndarray, arms: np.ndarray,
                extra: dict[str, np.ndarray] | None = None, *,
                latent: bool = False) -> pd.DataFrame:
    """Long format, one row per patient and observed visit (every visit with ``latent``):
    SLEDAI-2K and its items, PGA, BILAG grades, serology, rescue, and the (n, v) arrays of
    ``extra`` (immunology). The latent table adds ``observed`` and the model's latent
    activity, and shows values after dropout."""
    n, v = rec.sledai.shape
    keep = np.ones(n * v, dtype=bool) if latent else rec.observed.ravel()
    frame = {
        "id": np.repeat(ids, v), "arm": np.repeat(arms, v), "week": np.tile(rec.weeks, n),
        "sledai": rec.sledai.ravel(), "pga": rec.pga.ravel(),
        "anti_dsdna": rec.anti_dsdna.ravel().round(1), "c3": rec.c3.ravel().round(3),
        "treg": rec.treg.ravel(), "rescue": rec.rescue.ravel(),
    }
    for name, values in (extra or {}).items():
        frame[name] = values.ravel()
    for j, col in enumerate(GRADE_COLUMNS):
        frame[col] = bilag.LETTERS[rec.bilag[:, :, j].ravel()]
    items = rec.active.reshape(n * v, -1).astype(np.int8)
    for j, col in enumerate(ITEM_COLUMNS):
        frame[col] = items[:, j]
    if latent:
        frame["observed"] = rec.observed.ravel()
        for name, values in rec.latent.items():
            if values.ndim == 2:
                frame[f"latent_{name}"] = values.ravel().round(4)
            else:
                for d, dom in enumerate(sledai.DOMAINS):
                    frame[f"latent_{name}_{dom}"] = values[:, :, d].ravel().round(4)
    return pd.DataFrame(frame)[keep].reset_index(drop=True)


def records_from_tables(patients: pd.DataFrame, visits: pd.DataFrame,
                        weeks: np.ndarray) -> VisitRecords:
    """Rebuild :class:`VisitRecords` from ``patients.csv`` (patient order) and
    ``visits.csv`` (observed visits only): the inverse of :func:`visit_table` on what was
    recorded. Unrecorded visits are blank (see :meth:`VisitRecords.visible`)."""
    weeks = np.asarray(weeks, dtype=float)
    n, v = len(patients), weeks.size
    row = pd.Series(np.arange(n), index=patients["id"].to_numpy())
    i = row.loc[visits["id"].to_numpy()].to_numpy()
    k = np.searchsorted(weeks, visits["week"].to_numpy(dtype=float))
    observed = np.zeros((n, v), dtype=bool)
    observed[i, k] = True

    def grid(col: str, fill: float, dtype: type = float) -> np.ndarray:
        out = np.full((n, v), fill, dtype=dtype)
        out[i, k] = visits[col].to_numpy(dtype=dtype)
        return out

    active = np.zeros((n, v, len(ITEM_COLUMNS)), dtype=bool)
    active[i, k] = visits[list(ITEM_COLUMNS)].to_numpy().astype(bool)
    grades = np.zeros((n, v, len(GRADE_COLUMNS)), dtype=np.int8)
    letter = {s: g for g, s in enumerate(bilag.LETTERS)}
    grades[i, k] = np.vectorize(letter.__getitem__)(visits[list(GRADE_COLUMNS)].to_numpy())
    return VisitRecords(weeks=weeks, active=active, sledai=grid("sledai", 0, int),
                        pga=grid("pga", np.nan), anti_dsdna=grid("anti_dsdna", np.nan),
                        c3=grid("c3", np.nan), observed=observed, bilag=grades,
                        treg=grid("treg", np.nan), rescue=grid("rescue", False, bool))
