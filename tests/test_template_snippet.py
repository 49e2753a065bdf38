"""The commented model_fn/loss_fn snippet of submissions/template/submission.py runs: extracted
and executed on the toy workload, it gives the same loss as the reference algorithms'."""

import os
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from toy_workload import ToyRegressionWorkload  # noqa: E402

from algoperf import spec, tuning  # noqa: E402
from reference_algorithms.common import train_step  # noqa: E402

TEMPLATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'submissions', 'template', 'submission.py')


def template_snippet() -> str:
  """The commented lines between the snippet markers, uncommented."""
  with open(TEMPLATE) as f:
    lines = f.read().splitlines()
  start = next(i for i, line in enumerate(lines) if line.strip() == '# >>> loss snippet')
  end = next(i for i, line in enumerate(lines) if line.strip() == '# <<< loss snippet')
  body = [line.strip()[2:] if line.strip() != '#' else '' for line in lines[start + 1:end]]
  assert body and all(line.strip().startswith('#') for line in lines[start + 1:end])
  return textwrap.dedent('\n'.join(body))


def test_template_snippet_runs_on_the_toy_workload():
  workload = ToyRegressionWorkload()
  rng = jax.random.key(0)
  params, model_state = workload.init_model_fn(rng)
  batch = next(workload._build_input_queue(rng, 'train', None, 16))
  batch['weights'] = np.array([1.0] * 12 + [0.0] * 4, dtype=np.float32)
  hyperparameters = tuning.hparams_from_dict({'dropout_rate': 0.0, 'label_smoothing': 0.0})
  scope = {'jax': jax, 'spec': spec, 'workload': workload, 'batch': batch,
           'model_state': model_state, 'rng': rng, 'hyperparameters': hyperparameters,
           'current_param_container': params}
  exec(template_snippet(), scope)  # noqa: S102 (our own template)
  expected, _ = train_step.mean_loss_fn(workload, 0.0, 0.0)(params, model_state, batch, rng)
  np.testing.assert_allclose(scope['loss'], expected, rtol=1e-6)
  assert jax.tree.structure(scope['grads']) == jax.tree.structure(params)
