"""Synthetic SLE patients: demographics, severity, organ involvement, serology, screening.

Candidates are drawn from a generative model of patients with active SLE seen in clinics,
then screened against the protocol's inclusion criteria until ``population.n`` are enrolled.
Screen failures are counted by their first failing criterion.

Generative model (per candidate)
--------------------------------
* sex ~ Bernoulli(``female_fraction``). Sex is kept independent of severity so the enrolled
  female fraction matches the protocol's (SLE is ~9:1 female: Izmirly PM et al., Arthritis
  Rheumatol 2021;73:991 — 128.7 vs 14.6 per 100,000).
* ancestry ~ Categorical(weights). Default weights: Izmirly 2021 female prevalence by race ×
  US 2020 census shares (white 0.60, black 0.13, hispanic 0.19, asian/pacific 0.06,
  american indian 0.01), normalised (the arithmetic is in ``DEFAULT_ANCESTRY``).
* age = age at onset + disease duration. Onset ~ Normal(30, 9) truncated to [10, 70]
  (assumed: centres the 15–44 onset window, Lupus Foundation of America); duration ~
  LogNormal(median 5 y, σ 0.9) (median from He J et al., Nat Med 2016;22:991). Candidates
  outside the protocol's age range are screen failures. Checked by a test: enrolled mean age
  lands in the 31–43 range of the reference trials (BLISS, TULIP, He 2016).
* latent severity z ~ Normal(shift[ancestry], 1). Shifts are assumed, in the direction of the
  excess renal and end-stage disease of Black, Hispanic and Asian patients (Lim SS et al.,
  Arthritis Rheumatol 2014;66:357: ~7× ESRD in Black patients).
* each SLEDAI-2K descriptor j present with probability logistic(logit(p_j) + b_j·z); renal
  descriptors come together through a latent nephritis indicator with an ancestry shift.
  ``p_j`` and ``b_j`` are fitted by hand so that a SLEDAI-2K ≥ 6 cohort approaches the BLISS
  pooled baseline (mean 9.71, SD 3.76, 52% ≥ 10; Navarra, Lancet 2011; Furie, Arthritis Rheum
  2011) and a SLEDAI-2K ≥ 8 cohort of Asian patients He 2020's medians (11–12) and nephritis
  share (25/59 = 42%). Measured on 20,000 enrolled (seed 1): ≥ 6 cohort mean 10.19, SD 4.65,
  46% ≥ 10, anti-dsDNA+ 67%, low C3 47%, PGA 1.41 (SD 0.52), renal 16%, mean age 37.3;
  Asian ≥ 8 cohort median 11, renal 42%, anti-dsDNA median 32.3 IU/mL, PGA 1.66. The SD is
  wider than BLISS's (a heavier upper tail); tests pin the mean and the ≥ 10 share. PGA in
  the Asian cohort is below He 2020's medians (2.2-2.3): PGA scales differ between trials.
* anti-dsDNA titre (IU/mL): log10 ~ Normal(1.28 + 0.3 z, 0.55); positive ≥ 20 IU/mL.
  Fitted to BLISS positivity 64–75% and He 2020 median 34.8 IU/mL.
* C3 (g/L) ~ Normal(1.03 − 0.13 z, 0.22), low < 0.9 g/L. Fitted to BLISS low C3 40–49%.
* physician global assessment (PGA, 0–3) = 0.55 + 0.11 × clinical SLEDAI-2K + Normal(0, 0.25),
  clipped. Fitted to the BLISS pooled mean 1.4 (SD 0.5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from trialsim import sledai
from trialsim.errors import ProtocolError
from trialsim.protocol import Population

ANCESTRIES: tuple[str, ...] = ("white", "black", "hispanic", "asian", "american_indian")

# Izmirly 2021 female prevalence per 100k × US 2020 census share → relative weight.
_PREVALENCE = {"white": 84.7, "black": 230.9, "hispanic": 120.7, "asian": 84.4,
               "american_indian": 270.6}
_US_SHARE = {"white": 0.60, "black": 0.13, "hispanic": 0.19, "asian": 0.06,
             "american_indian": 0.01}
DEFAULT_ANCESTRY: dict[str, float] = {
    a: _PREVALENCE[a] * _US_SHARE[a] / sum(_PREVALENCE[b] * _US_SHARE[b] for b in ANCESTRIES)
    for a in ANCESTRIES
}

# Severity shift (SD units) and extra renal log-odds by ancestry: assumed (direction: Lim 2014).
_SEVERITY_SHIFT = {"white": 0.0, "black": 0.25, "hispanic": 0.15, "asian": -0.3,
                   "american_indian": 0.2}
_RENAL_SHIFT = {"white": 0.0, "black": 1.0, "hispanic": 0.7, "asian": 1.6,
                "american_indian": 0.7}

# Probability each descriptor is active at z = 0 in the clinic candidate pool, and the slope
# on latent severity. Fitted (see module docstring); serology is generated from titres.
_DESCRIPTOR_P0: dict[str, tuple[float, float]] = {
    "seizure": (0.002, 0.8), "psychosis": (0.001, 0.8), "organic_brain_syndrome": (0.001, 0.8),
    "visual_disturbance": (0.001, 0.8), "cranial_nerve_disorder": (0.001, 0.8),
    "lupus_headache": (0.004, 0.8), "cva": (0.001, 0.8), "vasculitis": (0.012, 0.9),
    "arthritis": (0.40, 0.8), "myositis": (0.02, 0.8),
    "rash": (0.45, 0.7), "alopecia": (0.28, 0.6), "mucosal_ulcers": (0.16, 0.6),
    "pleurisy": (0.03, 0.8), "pericarditis": (0.015, 0.8),
    "fever": (0.03, 0.8), "thrombocytopenia": (0.04, 0.8), "leukopenia": (0.07, 0.8),
}
# Renal descriptors come together: a candidate has active nephritis with probability
# logistic(logit(_NEPHRITIS_P0) + _NEPHRITIS_SLOPE·z + renal shift), and given nephritis each
# urinary descriptor with the probabilities below (fitted; proteinuria is the most common sign
# of active lupus nephritis, casts the rarest).
_NEPHRITIS_P0, _NEPHRITIS_SLOPE = 0.035, 1.0
_RENAL_GIVEN_NEPHRITIS = {"proteinuria": 0.9, "hematuria": 0.55, "pyuria": 0.35,
                          "urinary_casts": 0.2}
# Prevalence of each descriptor at z = 0 (24, SLEDAI order): how readily it appears in a flare.
DESCRIPTOR_PREVALENCE: np.ndarray = np.array([
    _NEPHRITIS_P0 * _RENAL_GIVEN_NEPHRITIS[d.name] if d.domain == "renal"
    else _DESCRIPTOR_P0[d.name][0] if d.name in _DESCRIPTOR_P0 else 1.0
    for d in sledai.DESCRIPTORS
])
# Enrichment criteria: the candidate column that decides each and whether it is negated.
CRITERIA: dict[str, tuple[str, bool]] = {
    "anti_dsdna": ("d_increased_dna_binding", False),   # anti-dsDNA >= the assay cut-off
    "low_complement": ("d_low_complement", False),       # C3 < the lower limit of normal
    "renal": ("renal", False),                           # an active renal descriptor
    "non_renal": ("renal", True),                        # no active renal descriptor
}
DSDNA_CUTOFF_IU = 20.0   # positivity threshold of the assay, IU/mL (assumed; ELISA typical)
C3_LOW_G_L = 0.9         # lower limit of normal for C3, g/L (typical laboratory range 0.9-1.8)


@dataclass(frozen=True)
class Cohort:
    """Enrolled patients and the screening that produced them.

    ``columns`` holds one array per patient attribute, enrolled patients in enrolment order
    (id, screen_order, sex, age, ancestry, severity, sledai0, clinical_sledai0, anti_dsdna0,
    c3_0, pga0, renal, and one boolean column per SLEDAI-2K descriptor prefixed ``d_``): the
    simulation reads these arrays. ``patients`` is the same table as a DataFrame, built on
    first use (for tables that are written or shown), so a replicate that nobody looks at
    never pays for pandas. ``screen_failures`` counts candidates by their first failing
    criterion.
    """

    columns: Mapping[str, np.ndarray]
    screened: int
    screen_failures: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.columns["id"].size)

    @cached_property
    def patients(self) -> pd.DataFrame:
        """One row per enrolled patient (the columns above)."""
        return pd.DataFrame(dict(self.columns))

    @cached_property
    def descriptors(self) -> np.ndarray:
        """Baseline descriptor matrix, shape (n, 24), in :data:`sledai.NAMES` order."""
        return np.column_stack([self.columns[f"d_{k}"] for k in sledai.NAMES]).astype(bool)

    @classmethod
    def stack(cls, cohorts: Sequence[Cohort]) -> Cohort:
        """Several replicates' patients one after another (to score a batch as one array);
        the screening counts are summed."""
        if len(cohorts) == 1:
            return cohorts[0]
        return cls({k: np.concatenate([c.columns[k] for c in cohorts])
                    for k in cohorts[0].columns}, sum(c.screened for c in cohorts))

    def take(self, rows: slice | np.ndarray) -> Cohort:
        """The patients ``rows`` (e.g. one patient chunk), with the same screening counts."""
        return Cohort({k: v[rows] for k, v in self.columns.items()}, self.screened,
                      self.screen_failures)


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


_RENAL_COLS = np.array([j for j, d in enumerate(sledai.DESCRIPTORS) if d.domain == "renal"])
_RENAL_P = np.array([_RENAL_GIVEN_NEPHRITIS[sledai.DESCRIPTORS[j].name] for j in _RENAL_COLS])
_CLINICAL_COLS = np.array([j for j, d in enumerate(sledai.DESCRIPTORS)
                           if d.domain not in ("renal", "serological")])
_CLINICAL_LOGIT0 = np.array([_logit(_DESCRIPTOR_P0[sledai.DESCRIPTORS[j].name][0])
                             for j in _CLINICAL_COLS])
_CLINICAL_SLOPE = np.array([_DESCRIPTOR_P0[sledai.DESCRIPTORS[j].name][1]
                            for j in _CLINICAL_COLS])


def sample_candidates(pop: Population, size: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``size`` clinic candidates (before screening) from the generative model above."""
    return pd.DataFrame(_candidate_columns(pop, size, rng))


def _candidate_columns(pop: Population, size: int,
                       rng: np.random.Generator) -> dict[str, np.ndarray]:
    return _labelled(pop, _columns(pop, _draws(pop, size, rng)))


def _labelled(pop: Population, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sex and ancestry as text. Screening works on their codes (female, ancestry index):
    only the candidates kept become Python strings."""
    names, _ = _ancestries(pop)
    columns["sex"] = np.where(columns["sex"], "F", "M").astype(object)
    columns["ancestry"] = np.array(names, dtype=object)[columns["ancestry"]]
    return columns


def _ancestries(pop: Population) -> tuple[list[str], np.ndarray]:
    weights = pop.ancestry_weights or DEFAULT_ANCESTRY
    names = [a for a in ANCESTRIES if weights.get(a, 0.0) > 0]
    w = np.array([weights[a] for a in names], dtype=float)
    return names, w / w.sum()


def _draws(pop: Population, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The random numbers of ``size`` candidates, in the order one block's generator gives
    them. Normal variates are drawn standard and scaled in :func:`_columns`:
    ``Generator.normal(loc, scale)`` is ``loc + scale × standard_normal``, bit for bit."""
    names, p = _ancestries(pop)
    return {"anc": rng.choice(len(names), size=size, p=p),
            "female": rng.random(size), "onset": rng.standard_normal(size),
            "duration": rng.standard_normal(size), "z": rng.standard_normal(size),
            "u": rng.random((size, len(sledai.NAMES))), "nephritis": rng.random(size),
            "dsdna": rng.standard_normal(size), "c3": rng.standard_normal(size),
            "pga": rng.standard_normal(size)}


def _columns(pop: Population, d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Candidate attributes from their draws (elementwise: any number of blocks at once)."""
    # Plain arrays: screening millions of candidates stays cheap; only tables that are
    # written or shown become DataFrames.
    names, _ = _ancestries(pop)
    anc_idx = d["anc"]
    size = anc_idx.size
    sev_shift = np.array([_SEVERITY_SHIFT[a] for a in names])[anc_idx]
    renal_shift = np.array([_RENAL_SHIFT[a] for a in names])[anc_idx]

    female = d["female"] < pop.female_fraction
    onset = np.clip(30.0 + 9.0 * d["onset"], 10.0, 70.0)
    duration = np.exp(np.log(5.0) + 0.9 * d["duration"])
    age = onset + duration
    z = sev_shift + 1.0 * d["z"]

    # Column-major: each descriptor's column (d_…) is a contiguous array.
    active = np.zeros((size, len(sledai.NAMES)), dtype=bool, order="F")
    u = d["u"]
    nephritis_logit = _logit(_NEPHRITIS_P0) + _NEPHRITIS_SLOPE * z + renal_shift
    nephritis = d["nephritis"] < 1.0 / (1.0 + np.exp(-nephritis_logit))
    # One (size, descriptors) array operation per term instead of a loop over descriptors;
    # the elementwise arithmetic is the same, so are the results.
    active[:, _RENAL_COLS] = nephritis[:, None] & (u[:, _RENAL_COLS] < _RENAL_P)
    active[:, _CLINICAL_COLS] = u[:, _CLINICAL_COLS] < 1.0 / (
        1.0 + np.exp(-(_CLINICAL_LOGIT0 + _CLINICAL_SLOPE * z[:, None])))
    dsdna = 10.0 ** ((1.28 + 0.3 * z) + 0.55 * d["dsdna"])
    c3 = np.clip((1.03 - 0.13 * z) + 0.22 * d["c3"], 0.15, 2.2)
    active[:, sledai.SEROLOGY[0]] = c3 < C3_LOW_G_L
    active[:, sledai.SEROLOGY[1]] = dsdna >= DSDNA_CUTOFF_IU

    score = sledai.score(active)
    clinical = sledai.score(active & sledai.CLINICAL)
    pga = np.clip(0.55 + 0.11 * clinical + (0.0 + 0.25 * d["pga"]), 0.0, 3.0)
    columns = {
        "sex": female,                 # codes until _labelled
        "age": np.round(age, 1),
        "ancestry": anc_idx,
        "severity": z,
        "sledai0": score,
        "clinical_sledai0": clinical,
        "anti_dsdna0": dsdna,
        "c3_0": c3,
        "pga0": np.round(pga, 2),
        "renal": active[:, sledai.DOMAINS.index("renal") == sledai.DOMAIN_INDEX].any(axis=1),
    }
    columns.update({f"d_{k}": active[:, j] for j, k in enumerate(sledai.NAMES)})
    return columns


def screen(candidates: pd.DataFrame, pop: Population) -> pd.Series:
    """First failing inclusion criterion per candidate ("" when eligible)."""
    return pd.Series(_screen(candidates, pop), index=candidates.index, dtype=object)


def _screen(candidates: Mapping[str, Any], pop: Population) -> np.ndarray:
    age = np.asarray(candidates["age"])
    checks = [
        ("age", (age < pop.age.min) | (age > pop.age.max)),
        ("sledai", np.asarray(candidates["sledai0"]) < pop.min_sledai),
        ("pga", np.asarray(candidates["pga0"]) < pop.min_pga),
    ]
    if pop.require_serology:
        seropositive = (np.asarray(candidates["d_increased_dna_binding"])
                        | np.asarray(candidates["d_low_complement"]))
        checks.append(("serology", ~seropositive))
    met = {c: np.asarray(candidates[col]).astype(bool) ^ neg
           for c, (col, neg) in CRITERIA.items()}
    checks += [(c, ~met[c]) for c in pop.require_all]
    if pop.require_any:
        anyof = np.logical_or.reduce([met[c] for c in pop.require_any])
        checks.append(("any of " + " / ".join(pop.require_any), ~anyof))
    reason = np.full(age.size, "", dtype=object)
    for name, failed in reversed(checks):   # the first failing criterion is written last
        reason[failed] = name
    return reason


CANDIDATE_BLOCK = 256  # candidates per keyed block of the pool (any fixed value works)
_MAX_GROUP = 256       # blocks drawn and screened together (65,536 candidates)


def enrol(pop: Population, rng: np.random.Generator | Callable[[int], np.random.Generator],
          source: str = "protocol") -> Cohort:
    """Screen the candidate pool in order until ``pop.n`` are eligible; enrol those.

    The pool is drawn in blocks of :data:`CANDIDATE_BLOCK` candidates; ``rng`` is either one
    generator (blocks drawn from it in turn) or a function giving block ``b``'s own generator
    (:mod:`trialsim.streams`), in which case the pool does not depend on ``pop.n``: the first
    ``m`` patients enrolled at any ``n >= m`` are the same people. ``columns["screen_order"]``
    is each patient's 1-based position in the pool, so the first ``m`` patients needed
    ``screen_order[m − 1]`` candidates screened.

    Blocks are drawn one generator at a time but screened in growing groups (1, 2, 4, …
    blocks), and only the eligible candidates are kept, so a million patients screen in
    seconds and in memory proportional to those enrolled.

    Raises :class:`ProtocolError` when the criteria admit too few candidates (more than
    ``max_screened_per_enrolled`` screened per enrolled patient).
    """
    block_rng = rng if callable(rng) else (lambda _b: rng)
    limit = int(pop.max_screened_per_enrolled * pop.n)
    max_blocks = -(-limit // CANDIDATE_BLOCK)        # block b is drawn while b·BLOCK < limit
    kept: list[dict[str, np.ndarray]] = []
    failures: dict[str, int] = {}
    have = blocks = 0
    group = 1
    cut = 0
    while have < pop.n:
        if blocks >= max_blocks:
            raise ProtocolError(
                f"{source}: population inclusion criteria admit too few candidates "
                f"(enrolled {have} of n = {pop.n} after screening "
                f"{blocks * CANDIDATE_BLOCK}); "
                "lower population.min_sledai / min_pga or widen population.age."
            )
        count = min(group, max_blocks - blocks)
        raw = [_draws(pop, CANDIDATE_BLOCK, block_rng(blocks + k)) for k in range(count)]
        draws = raw[0] if count == 1 else {k: np.concatenate([r[k] for r in raw])
                                           for k in raw[0]}
        cand = _columns(pop, draws)
        reason = _screen(cand, pop)
        ok = np.flatnonzero(reason == "")
        need = pop.n - have
        stop = reason.size
        if ok.size >= need:
            # Candidates after the n-th eligible one were never screened.
            stop = int(ok[need - 1]) + 1
            ok = ok[:need]
        failed, counts = np.unique(reason[:stop][reason[:stop] != ""].astype(str),
                                   return_counts=True)
        for r, c in zip(failed, counts, strict=True):
            failures[str(r)] = failures.get(str(r), 0) + int(c)
        first = blocks * CANDIDATE_BLOCK
        kept.append({"screen_order": first + ok + 1, **{k: v[ok] for k, v in cand.items()}})
        have += ok.size
        cut = first + stop
        blocks += count
        if callable(rng):   # one shared generator: draw no block beyond the last needed
            group = min(2 * group, _MAX_GROUP)
    columns = {"id": np.arange(1, have + 1),
               **{k: kept[0][k] if len(kept) == 1 else np.concatenate([b[k] for b in kept])
                  for k in kept[0]}}
    return Cohort(_labelled(pop, columns), screened=cut,
                  screen_failures=dict(sorted(failures.items())))
