"""The jitted SGD step, in a subpackage; reaches its parent package with `..`."""

import functools

import jax
import optax

from algoperf import spec

from ..schedule import LEARNING_RATE


def optimizer():
  return optax.sgd(LEARNING_RATE)


@functools.partial(jax.jit, static_argnums=(0, 1))
def train_step(workload, update_fn, opt_state, params, model_state, batch, rng):
  def loss_fn(p):
    logits, new_state = workload.model_fn(p, batch, model_state, spec.ForwardPassMode.TRAIN,
                                          rng, update_batch_norm=True)
    out = workload.loss_fn(batch['targets'], logits, batch.get('weights'))
    return out['summed'] / out['n_valid_examples'], new_state
  (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = update_fn(grads, opt_state, params)
  return opt_state, optax.apply_updates(params, updates), new_state, loss
