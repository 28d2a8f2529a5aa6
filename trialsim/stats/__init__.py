"""Pure statistics on arrays: no protocols, patients or trials.

* :mod:`~trialsim.stats.binary` — intervals and tests for response rates (Wilson, Newcombe,
  chi-square, Fisher, Cochran–Mantel–Haenszel), vectorised over many trials;
* :mod:`~trialsim.stats.power` — analytic power and sample size for two proportions;
* :mod:`~trialsim.stats.group_sequential` — Lan–DeMets alpha spending and group-sequential
  boundaries by recursive numerical integration.
"""
