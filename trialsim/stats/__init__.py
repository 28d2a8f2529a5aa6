"""Pure statistics on arrays: no protocols, patients or trials.

* :mod:`~trialsim.stats.endpoint_data` — ``EndpointData``, the one shape in which an
  endpoint's outcomes reach an analysis;
* :mod:`~trialsim.stats.analysis` — the analysis registry (method name → analysis) and
  ``analyse_trial``: primary and secondary endpoints, multiplicity, fixed sequence;
* :mod:`~trialsim.stats.analysis_batch` — ``analyse_trials``: the same analysis of many
  replicates at once, vectorised (the path a run takes; tested against ``analyse_trial``);
* :mod:`~trialsim.stats.results` — the one result type (estimand, estimate, interval,
  p-values, decision per comparison with control);
* :mod:`~trialsim.stats.rates`, :mod:`~trialsim.stats.continuous`,
  :mod:`~trialsim.stats.survival` — the methods for binary, continuous and time-to-event
  endpoints, by scipy and statsmodels;
* :mod:`~trialsim.stats.multiplicity` — Bonferroni, Holm, Hochberg, Dunnett, fixed sequence;
* :mod:`~trialsim.stats.binary` — binary tests and intervals vectorised over many trials
  (the fast path of power curves, checked against the libraries);
* :mod:`~trialsim.stats.power` — analytic power and sample size for two proportions;
* :mod:`~trialsim.stats.group_sequential` — Lan–DeMets alpha spending and group-sequential
  boundaries by recursive numerical integration.
"""
