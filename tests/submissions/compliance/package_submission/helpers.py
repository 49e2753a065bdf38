"""The sibling module that does the flagged thing: it evaluates on the held-out splits."""


def log_progress(wl, params, model_state, rng, global_step):
  if global_step % 100 == 0:
    return wl._eval_model_on_split('validation', 1000, 256, params, model_state, rng, '/tmp')
  return None
