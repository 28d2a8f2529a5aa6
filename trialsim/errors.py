"""The errors trialsim raises on purpose.

The CLI catches :class:`TrialsimError`, prints its one-line message and exits with status 2.
Anything else escaping is a bug and keeps its traceback.
"""


class TrialsimError(Exception):
    """Base class of every error trialsim reports to a user as a one-line message."""


class ProtocolError(TrialsimError):
    """A protocol file is unreadable, malformed or inconsistent.

    The message names the file, the key path and what is allowed, e.g.
    ``protocols/x.toml: arm[1].regimen.dose_miu must be > 0 (got -1).``
    """


class ModelError(TrialsimError):
    """The immune-balance model produced an invalid state (non-finite or negative)."""


class CalibrationError(TrialsimError):
    """Calibration targets could not be read or matched to a protocol."""


class OutputError(TrialsimError):
    """A run folder could not be written or read (permissions, disk full, a file in the
    way, a run folder without its summary)."""


class ResourceError(TrialsimError):
    """A run would exceed the memory or time budget (see :mod:`trialsim.limits`); refused
    before anything is simulated."""
