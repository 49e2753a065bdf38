"""Same module name as first/sgd_pkg/schedule.py, other content."""

LEARNING_RATE = 0.05
WHICH = 'second'
