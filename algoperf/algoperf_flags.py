"""AlgoPerf's `submission_runner.py` flags that mean nothing for a JAX run on this runner.

They are accepted, so AlgoPerf command lines run here unchanged, and a run that sets one
is told once which of the flags it gave do nothing. The flags that do mean something
(`--skip_evals`, `--capture_jax_trace`, `--rng_seed`, ...) are defined with the runner's
own flags.
"""

from __future__ import annotations

from absl import flags

# name -> (default, why it does nothing here)
_NO_EFFECT = {
    'torch_compile': (True, 'PyTorch only'),
    'set_pytorch_max_split_size': (False, 'PyTorch only'),
    'pytorch_eval_num_workers': (0, 'PyTorch only'),
    'use_wandb': (False, 'no Weights & Biases logging here; logs are CSV/JSON files'),
    'profile': (False, "AlgoPerf's host profiler; --capture_jax_trace writes a JAX trace"),
    'librispeech_tokenizer_vocab_path': ('', 'no LibriSpeech workload here'),
    'fixed_space': (False, 'a list-form search space is detected from the file'),
}
NO_EFFECT_FLAGS = tuple(_NO_EFFECT)


def define_no_effect_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Define AlgoPerf's flags that do nothing here, each saying so in --help."""
  for name, (default, why) in _NO_EFFECT.items():
    help_text = f'Accepted for AlgoPerf compatibility; no effect here ({why}).'
    if isinstance(default, bool):
      flags.DEFINE_boolean(name, default, help_text, flag_values=flag_values)
    elif isinstance(default, int):
      flags.DEFINE_integer(name, default, help_text, flag_values=flag_values)
    else:
      flags.DEFINE_string(name, default, help_text, flag_values=flag_values)


def no_effect_notice(flag_values: flags.FlagValues = flags.FLAGS) -> str | None:
  """One line naming the no-effect flags this command line set, or None if it set none."""
  given = [name for name in NO_EFFECT_FLAGS
           if name in flag_values and flag_values[name].present]
  if not given:
    return None
  return ('note: accepted for AlgoPerf compatibility but no effect here: '
          + ', '.join(f'--{name} ({_NO_EFFECT[name][1]})' for name in given))
