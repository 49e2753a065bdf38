"""The learning rate this package's submission uses (a sibling module, relative import)."""

LEARNING_RATE = 0.1
WHICH = 'first'
