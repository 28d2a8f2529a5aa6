"""Responder definitions and flares, computed at every visit against baseline.

Each ``*_status`` function returns an (n, v) boolean array: the criterion at each visit as
recorded, before the missing-data rule and before treatment failure (rescue) is applied;
column 0 (baseline) is meaningless. :func:`sri`, :func:`bicla` and
:func:`renal_complete_remission` give the classic one-week answers with dropouts and rescued
patients as non-responders.

* **SRI-k** (Furie RA et al., Arthritis Rheum 2009;61:1143): SLEDAI-2K reduction ≥ k; no new
  BILAG A and ≤ 1 new BILAG B (a domain graded A that was not A at baseline, or B that was
  C/D/E: worsening of an involved domain counts, renal B → A is a new A); PGA worsening < 0.3.
* **BICLA** (Wallace DJ et al., Ann Rheum Dis 2014;73:183): every domain A at baseline now
  B/C/D and every B now C/D; no new A and ≤ 1 new B; SLEDAI-2K not above baseline; PGA
  worsening < 0.3 (10% of the 0-3 scale); no treatment failure.
* **LLDAS** (Franklyn K et al., Ann Rheum Dis 2016;75:1615): (1) SLEDAI-2K ≤ 4 with no activity
  in major organ systems — here no active renal, neuro, vasculitis, serosal (cardiopulmonary)
  item and no fever; haemolytic anaemia and gastrointestinal activity are not modelled;
  (2) no new activity since the previous observed visit — no SLEDAI-2K item active that was
  not at that visit; (3) PGA ≤ 1; (4) prednisolone ≤ 7.5 mg/day and (5) tolerated standard
  immunosuppressants: steroid doses are not modelled; rescue therapy (a steroid burst)
  fails both from the rescue visit on, otherwise they hold.
* **Renal complete response**: no active renal SLEDAI-2K item (proteinuria, haematuria,
  pyuria, casts), among patients with one at baseline.
* **Flares**, SELENA flare index-like (Petri M et al., N Engl J Med 2005;353:2550), visit to
  visit on the recorded tables (not the model's latent flare events, which no visit sees):
  a *flare* at an observed visit is a SLEDAI-2K rise ≥ 3 or a PGA rise ≥ 1.0 since the
  previous observed visit; a *severe flare* a SLEDAI-2K rise ≥ 3 to a score > 12, a PGA rise
  to > 2.5, or a domain newly graded BILAG A (not A at the previous visit, standing in for
  the index's new or worse organ-threatening manifestations). Treatment and hospitalisation
  items are not modelled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trialsim import sledai
from trialsim.endpoints import bilag
from trialsim.endpoints.visits import VisitRecords

PGA_WORSENING = 0.3          # SRI and BICLA (Furie 2009; Wallace 2014)
LLDAS_SLEDAI = 4
LLDAS_PGA = 1.0
FLARE_SLEDAI = 3             # SFI: change in SELENA-SLEDAI ≥ 3
FLARE_PGA = 1.0              # SFI: PGA increase ≥ 1.0
SEVERE_SLEDAI = 12           # SFI: SELENA-SLEDAI to > 12
SEVERE_PGA = 2.5             # SFI: PGA to > 2.5
_RENAL = np.array([d.domain == "renal" for d in sledai.DESCRIPTORS])
_LLDAS_MAJOR = np.array([d.domain in ("renal", "neuro", "vascular", "serosal")
                         or d.name == "fever" for d in sledai.DESCRIPTORS])


def _once(rec: VisitRecords, name: str, compute: Callable[[VisitRecords], Any]) -> Any:
    """``compute(rec)``, computed once per records object (SRI-4/5/6 and BICLA share the
    BILAG criterion, both time-to-event endpoints the flares); read-only arrays."""
    memo = rec.derived
    if name not in memo:
        value = compute(rec)
        for a in value if isinstance(value, tuple) else (value,):
            a.flags.writeable = False
        memo[name] = value
    return memo[name]


def _bilag_ok(rec: VisitRecords) -> np.ndarray:
    def compute(rec: VisitRecords) -> np.ndarray:
        g0 = rec.bilag[:, :1, :]
        return (bilag.new_a(g0, rec.bilag) == 0) & (bilag.new_b(g0, rec.bilag) <= 1)
    return _once(rec, "bilag_ok", compute)


def _pga_ok(rec: VisitRecords) -> np.ndarray:
    return rec.pga - rec.pga[:, :1] < PGA_WORSENING


def sri_status(rec: VisitRecords, reduction: int = 4) -> np.ndarray:
    """SRI-``reduction`` at every visit (see module docstring)."""
    return ((rec.sledai[:, :1] - rec.sledai >= reduction) & _bilag_ok(rec) & _pga_ok(rec))


def bicla_status(rec: VisitRecords) -> np.ndarray:
    """BICLA at every visit (see module docstring)."""
    g0 = rec.bilag[:, :1, :]
    return (bilag.improved(g0, rec.bilag) & _bilag_ok(rec)
            & (rec.sledai <= rec.sledai[:, :1]) & _pga_ok(rec))


def lldas_status(rec: VisitRecords) -> np.ndarray:
    """LLDAS (Franklyn 2016, approximated as in the module docstring) at every visit."""
    low = (rec.sledai <= LLDAS_SLEDAI) & ~(rec.active & _LLDAS_MAJOR).any(axis=2)
    prev = np.zeros_like(rec.active)
    for k in range(1, rec.active.shape[1]):              # the previous *observed* visit
        prev[:, k] = np.where(rec.observed[:, k - 1, None], rec.active[:, k - 1],
                              prev[:, k - 1])
    no_new = ~(rec.active & ~prev).any(axis=2)
    return low & no_new & (rec.pga <= LLDAS_PGA) & ~rec.rescue


def renal_status(rec: VisitRecords) -> tuple[np.ndarray, np.ndarray]:
    """(eligible (n,), complete renal response at every visit (n, v))."""
    eligible = rec.active[:, 0, _RENAL].any(axis=1)
    return eligible, ~rec.active[:, :, _RENAL].any(axis=2)


def flare_visits(rec: VisitRecords) -> tuple[np.ndarray, np.ndarray]:
    """(flare, severe flare) at each visit (n, v), against the previous observed visit;
    False at baseline and at unobserved visits."""
    return _once(rec, "flares", _flare_visits)


def _flare_visits(rec: VisitRecords) -> tuple[np.ndarray, np.ndarray]:
    n, v = rec.sledai.shape
    flare = np.zeros((n, v), dtype=bool)
    severe = np.zeros((n, v), dtype=bool)
    last = np.zeros(n, dtype=int)                        # previous observed visit
    rows = np.arange(n)
    for k in range(1, v):
        seen = rec.observed[:, k]
        ds = rec.sledai[:, k] - rec.sledai[rows, last]
        dp = rec.pga[:, k] - rec.pga[rows, last]
        new_a = bilag.new_a(rec.bilag[rows, last], rec.bilag[:, k]) > 0
        flare[:, k] = seen & ((ds >= FLARE_SLEDAI) | (dp >= FLARE_PGA))
        severe[:, k] = seen & (((ds >= FLARE_SLEDAI) & (rec.sledai[:, k] > SEVERE_SLEDAI))
                               | ((dp >= FLARE_PGA) & (rec.pga[:, k] > SEVERE_PGA))
                               | new_a)
        last = np.where(seen, k, last)
    return flare, severe


def _at(status: np.ndarray, rec: VisitRecords, week: float) -> np.ndarray:
    k = rec.week_index(week)
    return status[:, k] & rec.observed[:, k] & ~rec.rescue[:, k]


def sri(rec: VisitRecords, week: float, reduction: int = 4) -> np.ndarray:
    """SRI-k responders at ``week`` (dropouts and rescued patients are non-responders)."""
    return _at(sri_status(rec, reduction), rec, week)


def bicla(rec: VisitRecords, week: float) -> np.ndarray:
    """BICLA responders at ``week`` (dropouts and rescued patients are non-responders)."""
    return _at(bicla_status(rec), rec, week)


def renal_complete_remission(rec: VisitRecords, week: float) -> tuple[np.ndarray, np.ndarray]:
    """(eligible, responder): renal at baseline; no renal descriptor active at ``week``."""
    eligible, status = renal_status(rec)
    return eligible, eligible & _at(status, rec, week)
