"""Many simulated trials of a design: operating characteristics, power curves, interim looks.

* :mod:`~trialsim.design.replicates` — ``run_design``: replicates of one protocol, power and
  mean effects;
* :mod:`~trialsim.design.sizes` — ``power_curve``: power over sample sizes on common random
  numbers, the sample size for a target power;
* :mod:`~trialsim.design.sequential` — group-sequential looks of one simulated trial.
"""

from trialsim.design.replicates import (
    DEFAULT_CHUNK,
    ArmOC,
    ComparisonOC,
    DesignResult,
    OperatingCharacteristics,
    ReplicateSummary,
    run_design,
    summarise,
)

__all__ = [
    "DEFAULT_CHUNK", "ArmOC", "ComparisonOC", "DesignResult", "OperatingCharacteristics",
    "ReplicateSummary", "run_design", "summarise",
]
