"""The immune-balance model: parameters with sources, pharmacokinetics, variability, dynamics."""

from trialsim.model.dynamics import Trajectory, simulate
from trialsim.model.parameters import DEFAULT_PARAMETERS, ModelParameters, parameter_table
from trialsim.model.variability import PatientParameters, sample_patient_parameters

__all__ = [
    "DEFAULT_PARAMETERS", "ModelParameters", "PatientParameters", "Trajectory",
    "parameter_table", "sample_patient_parameters", "simulate",
]
