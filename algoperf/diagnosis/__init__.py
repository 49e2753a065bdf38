"""Instability diagnosis the Tuning Playbook's way (docs/diagnose.md), behind `diagnose.py`.

    rules.py              the classifier and the other verdict rules, pure functions
    grid.py               learning-rate and warmup-length grids, range checks
    config.py             the submission, workload and hyperparameter point diagnosed
    probes.py             the observer that logs per-step losses and gradient norms
    trials.py             a diagnosis's trials as one ordinary, resumable experiment
    lr_sweep.py, early_instability.py, clip_threshold.py, warmup.py   the four diagnoses
    plots.py, report.py   figures, diagnosis.json and the HTML page

Nothing is imported here: a trial process unpickles `probes.ProbeSettings` and should load
only what it needs.
"""
