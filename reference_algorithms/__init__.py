"""Reference training algorithms (baselines), one folder per algorithm.

Each `<name>/submission.py` is an AlgoPerf-API submission; the pieces they share (schedule,
train step, the submission functions themselves) live in `common/`.
"""
