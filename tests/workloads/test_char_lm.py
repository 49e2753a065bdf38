"""char_lm: the zText reader on small modules in the real format, the byte vocabulary,
splits, the causal Transformer, the per-token loss and the eval contract."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from char_lm_data import write_module

from algoperf import spec
from algoperf.data.errors import DatasetUnavailableError
from reference_algorithms.common import train_step
from workloads.char_lm import input_pipeline
from workloads.char_lm import workload as char_lm


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory) -> str:
  root = tmp_path_factory.mktemp('char_lm')
  write_module(root / 'char_lm')
  return os.fspath(root)


@pytest.fixture(scope='module')
def workload(data_dir):
  workload = char_lm.CharLmWorkload()
  workload.splits(data_dir)
  return workload


@pytest.fixture(scope='module')
def init(workload):
  return workload.init_model_fn(jax.random.key(0))


def _host(batch):
  return {k: np.asarray(v) for k, v in batch.items()}


# --- reading the corpus ------------------------------------------------------------------


def test_osis_to_text_drops_notes_and_markup():
  markup = ('<title>Genesis</title> <w lemma="x">In</w>  <w>the</w> <w>beginning</w>'
            '<note placement="foot">A <i>footnote</i>.</note>, <w>God</w> said, '
            '\u201c<w>Light</w><note>n</note>\u201d &amp; <lb/>it was.')
  assert input_pipeline.osis_to_text(markup) == (
      'Genesis In the beginning, God said, \u201cLight\u201d & it was.')


def test_ztext_round_trip_and_testament_order(tmp_path):
  blocks = [b'<w>first</w> block', b'second \xe2\x80\x9cblock\xe2\x80\x9d']
  input_pipeline.write_blocks(os.fspath(tmp_path), 'ot', blocks)
  input_pipeline.write_blocks(os.fspath(tmp_path), 'nt', [b'<note>x</note>third.'])
  assert input_pipeline.read_blocks(tmp_path / 'ot.bzs', tmp_path / 'ot.bzz') == blocks
  # Index entries are (offset, compressed size, uncompressed size), little-endian uint32.
  index = np.frombuffer((tmp_path / 'ot.bzs').read_bytes(), '<u4').reshape(-1, 3)
  assert index[0, 0] == 0 and index[1, 0] == index[0, 1]
  np.testing.assert_array_equal(index[:, 2], [len(b) for b in blocks])
  assert input_pipeline.read_text(os.fspath(tmp_path)) == (
      'first block second \u201cblock\u201d third.')


@pytest.mark.parametrize('damage', ['truncate', 'index', 'size'])
def test_corrupt_module_names_the_file_and_the_package(tmp_path, damage):
  write_module(tmp_path)
  if damage == 'truncate':
    path = tmp_path / 'ot.bzz'
    path.write_bytes(path.read_bytes()[:-10])
  elif damage == 'index':
    path = tmp_path / 'nt.bzs'
    path.write_bytes(path.read_bytes()[:-1])
  else:
    path = tmp_path / 'ot.bzs'
    index = np.frombuffer(path.read_bytes(), '<u4').copy()
    index[2] += 1  # Uncompressed size of the first block.
    path.write_bytes(index.tobytes())
  with pytest.raises(DatasetUnavailableError, match=f'Corrupt.*{path}.*sword-text-web'):
    input_pipeline.read_text(os.fspath(tmp_path))


def test_missing_files_name_the_apt_package_and_searched_dirs(tmp_path, monkeypatch):
  monkeypatch.setattr(input_pipeline, 'SYSTEM_DIR', os.fspath(tmp_path / 'nowhere'))
  with pytest.raises(DatasetUnavailableError) as error:
    char_lm.CharLmWorkload()._build_input_queue(jax.random.key(0), 'train', os.fspath(tmp_path), 8)
  message = str(error.value)
  assert 'apt-get install sword-text-web' in message
  assert os.fspath(tmp_path / 'char_lm') in message and 'nowhere' in message


# --- vocabulary, splits, batches -----------------------------------------------------------


def test_byte_vocabulary_round_trip():
  text = 'In the beginning, \u201cGod\u201d\u2019s light \u2014 plain ASCII mostly.'
  tokens = input_pipeline.encode(text)
  assert tokens.dtype == np.int32 and tokens.min() >= 0
  assert tokens.max() < input_pipeline.VOCAB_SIZE == 256
  assert len(tokens) == len(text.encode('utf-8'))
  assert input_pipeline.decode(tokens) == text


def test_splits_are_contiguous_disjoint_and_deterministic(data_dir, workload):
  tokens = input_pipeline.encode(input_pipeline.read_text(data_dir))
  parts = input_pipeline.split_tokens(tokens)
  np.testing.assert_array_equal(
      np.concatenate([parts['train'], parts['validation'], parts['test']]), tokens)
  for name in ('validation', 'test'):
    assert len(parts[name]) == pytest.approx(0.05 * len(tokens), abs=3)

  splits = workload.splits(data_dir)
  length = input_pipeline.SEQUENCE_LENGTH
  for name in ('train', 'validation', 'test'):
    arrays = splits[name]
    assert arrays['inputs'].shape[1:] == (length,) and arrays['inputs'].dtype == np.int32
    np.testing.assert_array_equal(arrays['inputs'][:, 1:], arrays['targets'][:, :-1])
    # Every window is a stretch of its own part of the stream.
    stream = parts[name]
    for row in (0, len(arrays['inputs']) - 1):
      window = arrays['inputs'][row]
      assert any(np.array_equal(stream[i:i + length], window)
                 for i in range(0, len(stream) - length + 1))
  train_windows = {row.tobytes() for row in splits['train']['inputs']}
  assert not any(row.tobytes() in train_windows for row in splits['validation']['inputs'])
  # eval_train is an evenly spaced subset of the train windows; a second load is identical.
  assert all(row.tobytes() in train_windows for row in splits['eval_train']['inputs'])
  again = char_lm.CharLmWorkload().splits(data_dir)
  for name in splits:
    np.testing.assert_array_equal(again[name]['targets'], splits[name]['targets'])


def test_spread_subset_samples_the_whole_split():
  arrays = {'inputs': np.arange(100)[:, None], 'targets': np.arange(100)[:, None]}
  subset = input_pipeline.spread_subset(arrays, 10)
  np.testing.assert_array_equal(subset['targets'][:, 0], np.arange(0, 100, 10))
  assert len(input_pipeline.spread_subset(arrays, 500)['targets']) == 100


def test_train_batches_are_deterministic_and_resumable(data_dir, workload):
  def queue(seed):
    return workload._build_input_queue(jax.random.key(seed), 'train', data_dir, 32)

  first, again, other = queue(7), queue(7), queue(8)
  a, b, c = _host(next(first)), _host(next(again)), _host(next(other))
  np.testing.assert_array_equal(a['inputs'], b['inputs'])
  assert not np.array_equal(a['inputs'], c['inputs'])
  assert a['inputs'].shape == a['targets'].shape == (32, input_pipeline.SEQUENCE_LENGTH)
  np.testing.assert_array_equal(a['inputs'][:, 1:], a['targets'][:, :-1])
  state = first.get_state()
  expected = _host(next(first))
  resumed = queue(7)
  resumed.set_state(state)
  np.testing.assert_array_equal(_host(next(resumed))['targets'], expected['targets'])


# --- model and loss ----------------------------------------------------------------------


def test_model_is_causal(workload, init):
  params, model_state = init
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, 64)), jnp.int32)
  changed = tokens.at[:, 40].set((tokens[:, 40] + 1) % 256)

  def logits(x):
    return workload.model_fn(params, {'inputs': x}, model_state, spec.ForwardPassMode.EVAL,
                             None, update_batch_norm=False)[0]

  before, after = logits(tokens), logits(changed)
  assert before.shape == (2, 64, 256)
  np.testing.assert_allclose(before[:, :40], after[:, :40], atol=1e-6)
  assert np.abs(before[:, 40:] - after[:, 40:]).max() > 1e-4


def test_param_types_name_attention_projections(workload, init):
  types = workload.model_params_types['Block_0']['MultiHeadDotProductAttention_0']
  assert types['query']['kernel'] == spec.ParameterType.ATTENTION_Q
  assert types['key']['kernel'] == spec.ParameterType.ATTENTION_K
  assert types['value']['kernel'] == spec.ParameterType.ATTENTION_V
  assert types['out']['kernel'] == spec.ParameterType.ATTENTION_OUT
  assert types['out']['bias'] == spec.ParameterType.ATTENTION_BIAS
  assert workload.model_params_types['token_embedding']['embedding'] == (
      spec.ParameterType.EMBEDDING)
  assert [k for k in init[0] if workload.is_output_params(k)] == ['output']


def test_dropout_needs_rng_and_acts_in_train_mode_only(workload, init):
  params, model_state = init
  batch = {'inputs': jnp.zeros((2, 64), jnp.int32)}
  train, evaluate = spec.ForwardPassMode.TRAIN, spec.ForwardPassMode.EVAL
  plain = workload.model_fn(params, batch, model_state, evaluate, None, False, 0.5)[0]
  dropped = workload.model_fn(params, batch, model_state, train, jax.random.key(1), False, 0.5)[0]
  assert np.abs(plain - dropped).max() > 1e-3
  with pytest.raises(ValueError, match='rng'):
    workload.model_fn(params, batch, model_state, train, None, False, 0.5)


def test_loss_fn_masks_windows_and_tokens(workload):
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(3, 5, 256)), jnp.float32)
  targets = jnp.asarray(rng.integers(0, 256, (3, 5)), jnp.int32)
  full = workload.loss_fn(targets, logits)
  assert full['per_example'].shape == (3, 5) and float(full['n_valid_examples']) == 15
  expected = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  np.testing.assert_allclose(full['per_example'], expected, rtol=1e-5)

  per_window = workload.loss_fn(targets, logits, jnp.array([1.0, 0.0, 1.0]))
  assert float(per_window['n_valid_examples']) == 10
  np.testing.assert_allclose(per_window['summed'], expected[0].sum() + expected[2].sum(),
                             rtol=1e-5)
  token_mask = jnp.ones((3, 5)).at[:, 3:].set(0.0)
  per_token = workload.loss_fn(targets, logits, token_mask)
  assert float(per_token['n_valid_examples']) == 9
  np.testing.assert_allclose(per_token['summed'], expected[:, :3].sum(), rtol=1e-5)
  smoothed = workload.loss_fn(targets, logits, label_smoothing=0.1)
  assert not np.isclose(float(smoothed['summed']), float(full['summed']))


def test_shared_train_step_lowers_the_loss(data_dir, workload, init):
  params, model_state = init
  params = jax.tree.map(jnp.copy, params)  # The step donates its inputs.
  tx = optax.nadamw(3e-3)
  opt_state = tx.init(params)
  step = train_step.build_train_step(workload, tx, label_smoothing=0.0, dropout_rate=0.1)
  queue = workload._build_input_queue(jax.random.key(1), 'train', data_dir, 32)
  losses = []
  for i in range(25):
    params, model_state, opt_state, loss, _ = step(
        params, model_state, opt_state, next(queue), jax.random.key(i))
    losses.append(float(loss))
  assert all(math.isfinite(v) for v in losses)
  assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5


# --- evaluation --------------------------------------------------------------------------


def test_eval_keys_bits_per_char_and_direction(data_dir, workload, init):
  params, model_state = init
  results = workload.eval_model(workload.eval_batch_size, params, model_state,
                                jax.random.key(0), data_dir, None, 0)
  assert set(results) == {f'{p}/{m}' for p in ('train', 'validation', 'test')
                          for m in ('loss', 'bits_per_char')} | {
                              'validation/num_examples', 'test/num_examples'}
  for prefix in ('train', 'validation', 'test'):
    assert type(results[f'{prefix}/loss']) is float
    assert results[f'{prefix}/bits_per_char'] == pytest.approx(
        results[f'{prefix}/loss'] / math.log(2), rel=1e-5)
  # An untrained model is near uniform over 256 bytes: about 8 bits per character.
  assert 7.0 < results['validation/bits_per_char'] < 10.0
  assert workload.target_metric_name == 'bits_per_char'
  assert not workload.target_metric_higher_is_better
  target = workload.validation_target_value
  assert workload.has_reached_validation_target({'validation/bits_per_char': target - 0.01})
  assert not workload.has_reached_validation_target({'validation/bits_per_char': target + 0.01})


def test_padded_eval_matches_unpadded(data_dir, workload, init):
  params, model_state = init
  num = len(workload.splits(data_dir)['validation']['targets'])
  full = workload._eval_model_on_split('validation', num, num, params, model_state, None,
                                       data_dir)
  padded = workload._eval_model_on_split('validation', num, num - 3, params, model_state,
                                         None, data_dir)
  assert padded == pytest.approx(full, rel=1e-5)


def test_postnorm_variant_differs_from_the_base(workload, init):
  variant = char_lm.CharLmPostNormWorkload()
  params, model_state = variant.init_model_fn(jax.random.key(0))
  assert 'LayerNorm_0' in init[0] and 'LayerNorm_0' not in params  # No final norm.
  tokens = {'inputs': jnp.arange(128, dtype=jnp.int32).reshape(2, 64)}
  base_params = {k: v for k, v in init[0].items() if k != 'LayerNorm_0'}
  assert jax.tree.structure(base_params) == jax.tree.structure(params)
  base = workload.model_fn(init[0], tokens, None, spec.ForwardPassMode.EVAL, None, False)[0]
  post = variant.model_fn(params, tokens, None, spec.ForwardPassMode.EVAL, None, False)[0]
  assert np.abs(base - post).max() > 1e-3
  assert variant.validation_target_value != workload.validation_target_value


@pytest.mark.skipif(not os.path.isdir(input_pipeline.SYSTEM_DIR),
                    reason='Debian package sword-text-web not installed')
def test_real_corpus_sizes_and_text():
  workload = char_lm.CharLmWorkload()
  text = input_pipeline.read_text(None)
  assert text.startswith('Preface to the World English Bible')
  assert 'In the beginning, God created the heavens and the earth.' in text
  assert '<' not in text and '  ' not in text
  splits = workload.splits(None)
  for split, size in (('train', workload.num_train_examples),
                      ('eval_train', workload.num_eval_train_examples),
                      ('validation', workload.num_validation_examples),
                      ('test', workload.num_test_examples)):
    assert len(splits[split]['targets']) == size
