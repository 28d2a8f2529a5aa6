"""The endpoints a protocol may name: name → kind and a one-line meaning.

Pure data, imported by :mod:`trialsim.protocol` to validate ``[endpoint] primary`` and
``secondary``; :mod:`trialsim.endpoints.registry` attaches a function to every name here
(and checks at import that the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointInfo:
    """What a protocol reader needs to know about an endpoint."""

    kind: str   # "binary" | "continuous" | "time-to-event"
    label: str  # short name for tables
    meaning: str


CATALOG: dict[str, EndpointInfo] = {
    "sri4": EndpointInfo("binary", "SRI-4", "SLEDAI-2K reduction ≥ 4, no new BILAG A and ≤ 1 "
                         "new B, PGA worsening < 0.3, no treatment failure"),
    "sri5": EndpointInfo("binary", "SRI-5", "as SRI-4 with a SLEDAI-2K reduction ≥ 5"),
    "sri6": EndpointInfo("binary", "SRI-6", "as SRI-4 with a SLEDAI-2K reduction ≥ 6"),
    "bicla": EndpointInfo("binary", "BICLA", "every baseline BILAG A/B domain improved, no "
                          "new A and ≤ 1 new B, no SLEDAI-2K or PGA worsening, no treatment "
                          "failure"),
    "lldas": EndpointInfo("binary", "LLDAS", "lupus low disease activity state (Franklyn "
                          "2016) at the endpoint week"),
    "renal_response": EndpointInfo("binary", "renal response", "complete renal response "
                                   "(no active renal SLEDAI-2K item) among patients renal at "
                                   "baseline"),
    "ae_any": EndpointInfo("binary", "any adverse event", "at least one adverse event "
                           "before dropout"),
    "ae_injection_site_reaction": EndpointInfo("binary", "injection-site reaction",
                                               "injection-site reaction before dropout"),
    "ae_fever": EndpointInfo("binary", "fever", "fever before dropout"),
    "ae_flu_like": EndpointInfo("binary", "flu-like illness", "flu-like illness before "
                                "dropout"),
    "sledai_change": EndpointInfo("continuous", "SLEDAI-2K change", "SLEDAI-2K at the "
                                  "endpoint week minus baseline"),
    "treg_fold_change": EndpointInfo("continuous", "Treg fold change", "Treg count at the "
                                     "endpoint week ÷ baseline"),
    "time_to_flare": EndpointInfo("time-to-event", "time to first flare", "days to the "
                                  "first SELENA flare index-like flare (any severity)"),
    "time_to_severe_flare": EndpointInfo("time-to-event", "time to first severe flare",
                                         "days to the first severe SELENA flare "
                                         "index-like flare"),
}

# Endpoints a trial's primary analysis accepts today: binary over every randomised patient
# (renal response is defined on renal patients only).
PRIMARY: tuple[str, ...] = ("sri4", "sri5", "sri6", "bicla", "lldas")
