"""Patient and visit tables of a run folder: CSV for ordinary trials, Parquet for large ones.

The rule: a replicate of at most :data:`trialsim.trial.PATIENT_CHUNK` (20,000) patients is
simulated as one array system and its tables are written as ``patients.csv`` and
``visits.csv``; a larger one is simulated in patient chunks and each chunk is appended, as
it is simulated, to ``patients.parquet`` and ``visits.parquet`` (one row group per chunk,
zstd-compressed), so no table of a million patients is ever held in memory or written as
a 700 MB CSV. Readers (:func:`read_table`) take whichever the folder has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

TABLES: tuple[str, ...] = ("patients", "visits")


def table_path(run_dir: Path, name: str) -> Path | None:
    """``name``.parquet or ``name``.csv in ``run_dir`` (None when neither exists)."""
    for ext in ("parquet", "csv"):
        path = Path(run_dir) / f"{name}.{ext}"
        if path.is_file():
            return path
    return None


def read_table(run_dir: Path, name: str, columns: list[str] | None = None,
               first_groups: int | None = None) -> pd.DataFrame | None:
    """The table ``name`` of a run folder (Parquet or CSV), only ``columns`` if given.

    ``first_groups``: of a Parquet table, only its first row groups (each one patient chunk
    of a large trial), so a figure of a million-patient trial is drawn from its first
    chunk's patients rather than holding every visit in memory; a CSV is read whole."""
    path = table_path(run_dir, name)
    if path is None:
        return None
    if path.suffix == ".parquet":
        if first_groups is None:
            return pd.read_parquet(path, columns=columns)
        import pyarrow.parquet as pq

        f = pq.ParquetFile(path)
        groups = list(range(min(first_groups, f.num_row_groups)))
        return f.read_row_groups(groups, columns=columns).to_pandas()
    return pd.read_csv(path, usecols=columns)


def is_sampled(run_dir: Path, name: str, first_groups: int) -> bool:
    """Whether :func:`read_table` with ``first_groups`` leaves rows of ``name`` out."""
    path = table_path(run_dir, name)
    if path is None or path.suffix != ".parquet":
        return False
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).num_row_groups > first_groups


class ParquetTables:
    """A table sink for :func:`trialsim.trial.simulate_enrolled`: appends each patient
    chunk's patient and visit tables to ``folder/patients.parquet`` and
    ``folder/visits.parquet``, one row group per chunk. ``tables`` maps each table written
    to its file; :meth:`close` finishes the files (also on ``with`` exit)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._writers: dict[str, Any] = {}
        self.tables: dict[str, str] = {}

    def _append(self, name: str, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = self._writers.get(name)
        table = pa.Table.from_pandas(frame, preserve_index=False,
                                     schema=None if writer is None else writer.schema)
        if writer is None:
            path = self.folder / f"{name}.parquet"
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            self._writers[name] = writer
            self.tables[name] = str(path)
        writer.write_table(table)

    def __call__(self, chunk: Any) -> None:
        self._append("patients", chunk.patient_table())
        visits = chunk.visit_table()
        if visits is not None:
            self._append("visits", visits)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def __enter__(self) -> ParquetTables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
