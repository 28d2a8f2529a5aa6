"""Benchmarks behind ``make bench``: each module's ``measure()`` returns a flat dict of
figures that :mod:`trialsim.bench` merges into ``bench/results.json``."""
