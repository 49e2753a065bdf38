"""The runner's log writers survive I/O faults: a full disk never leaves half a CSV row, a
stray temp file or a half checkpoint, errors keep their OSError type and errno, and writing
continues cleanly once space is freed.

Faults come three ways: a real file-size limit (RLIMIT_FSIZE, in a child process with
SIGXFSZ ignored, so writes past it fail with EFBIG after a short write), a real full disk
(a tiny tmpfs, where mounting is allowed), and injected ENOSPC at a chosen call.
"""

import contextlib
import csv
import errno
import json
import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest

from algoperf import checkpoint, logs

HERE = os.path.abspath(__file__)
ROW = {'loss': 0.123456789012345, 'accuracy': 0.987654321098765}


def _csv(path):
  with open(path, newline='', encoding='utf-8') as f:
    return list(csv.reader(f))


def _steps(path):
  header, *rows = _csv(path)
  assert all(len(r) == len(header) for r in rows), rows  # No partial or merged row.
  return [int(r[header.index('global_step')]) for r in rows]


def _temp_files(directory):
  return sorted(n for n in os.listdir(directory) if n.endswith('.tmp'))


def _read(path):
  with open(path, 'rb') as f:
    return f.read()


# --- Scenarios run in a child process under a real RLIMIT_FSIZE. ---------------------------

@contextlib.contextmanager
def _file_size_limit(limit):
  """Writes past `limit` bytes fail with EFBIG; lifted again on exit ("space freed")."""
  soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
  resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
  try:
    yield
  finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _errno_of(fn, limit):
  try:
    with _file_size_limit(limit):
      fn()
  except OSError as e:
    return [type(e).__name__, e.errno]
  return None


def _child_append(directory):
  logger = logs.MetricsLogger(directory)
  path = os.path.join(directory, logs.MEASUREMENTS)
  for step in (1, 2):
    logger.append_scalar_metrics(ROW, step)
  before = _read(path)
  # Room for 5 more bytes: the kernel writes part of the row, then refuses the rest.
  error = _errno_of(lambda: logger.append_scalar_metrics(ROW, 3), len(before) + 5)
  unchanged = _read(path) == before
  logger.append_scalar_metrics(ROW, 4)
  return {'error': error, 'unchanged': unchanged, 'temps': _temp_files(directory)}


def _child_new_column(directory):
  logger = logs.MetricsLogger(directory)
  path = os.path.join(directory, logs.MEASUREMENTS)
  logger.append_scalar_metrics(ROW, 1)
  before = _read(path)
  error = _errno_of(lambda: logger.append_scalar_metrics({**ROW, 'new': 1.5}, 2), len(before) + 5)
  unchanged = _read(path) == before
  temps = _temp_files(directory)
  logger.append_scalar_metrics({**ROW, 'new': 2.5}, 3)
  return {'error': error, 'unchanged': unchanged, 'temps': temps}


def _child_json(directory):
  path = os.path.join(directory, 'trial_summary.json')
  logs.write_json(path, {'status': 'first'})
  before = _read(path)
  error = _errno_of(lambda: logs.write_json(path, {'status': 'x' * 10_000}), 100)
  return {'error': error, 'unchanged': _read(path) == before, 'temps': _temp_files(directory)}


def _state(step, params):
  return checkpoint.TrialState(
      params=params, model_state=None, optimizer_state={'m': np.zeros(3, np.float32)},
      global_step=step, preemption_count=0, train_state={'step': step}, eval_results=[],
      status='running')


def _child_checkpoint(directory):
  rng = np.random.default_rng(0)
  small = {'w': rng.random(16).astype(np.float32)}
  checkpoint.save(directory, _state(1, small))
  big = {'w': rng.random(1 << 18).astype(np.float32)}  # 1 MiB, incompressible.
  error = _errno_of(lambda: checkpoint.save(directory, _state(2, big)), 64 << 10)
  ckpt_dir = os.path.join(directory, checkpoint.CHECKPOINT_SUBDIR)
  entries = sorted(os.listdir(ckpt_dir))
  latest = checkpoint.latest_step(directory)
  restored = checkpoint.restore(directory, _state(0, {'w': np.zeros(16, np.float32)}))
  checkpoint.save(directory, _state(3, big))
  return {'error': error, 'entries': entries, 'latest': latest,
          'restored_step': restored.global_step, 'restored_status': restored.status,
          'restored_equal': bool(np.array_equal(restored.params['w'], small['w'])),
          'latest_after': checkpoint.latest_step(directory)}


CHILD_SCENARIOS = {'append': _child_append, 'new_column': _child_new_column,
                   'json': _child_json, 'checkpoint': _child_checkpoint}


def _in_child(scenario, directory):
  proc = subprocess.run([sys.executable, HERE, scenario, str(directory)], capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_file_size_limit_mid_row_leaves_csv_unchanged_and_resume_continues(tmp_path):
  out = _in_child('append', tmp_path)
  assert out == {'error': ['OSError', errno.EFBIG], 'unchanged': True, 'temps': []}
  assert _steps(tmp_path / logs.MEASUREMENTS) == [1, 2, 4]
  logs.MetricsLogger(str(tmp_path)).append_scalar_metrics(ROW, 5)  # A later run appends too.
  assert _steps(tmp_path / logs.MEASUREMENTS) == [1, 2, 4, 5]


def test_file_size_limit_during_header_rewrite_keeps_original(tmp_path):
  out = _in_child('new_column', tmp_path)
  assert out == {'error': ['OSError', errno.EFBIG], 'unchanged': True, 'temps': []}
  header, *rows = _csv(tmp_path / logs.MEASUREMENTS)
  assert 'new' in header and _steps(tmp_path / logs.MEASUREMENTS) == [1, 3]
  assert [r[header.index('new')] for r in rows] == ['', '2.5']


def test_file_size_limit_in_write_json_leaves_no_temp_file(tmp_path):
  out = _in_child('json', tmp_path)
  assert out == {'error': ['OSError', errno.EFBIG], 'unchanged': True, 'temps': []}


def test_failed_checkpoint_save_is_an_os_error_and_never_the_latest(tmp_path):
  out = _in_child('checkpoint', tmp_path)
  # TensorStore's "File too large" comes back as an OSError with its errno, not ValueError.
  assert out['error'] == ['OSError', errno.EFBIG]
  assert out['entries'] == ['1']  # No half-written step, no leftover temp directory.
  assert (out['latest'], out['restored_step'], out['restored_equal']) == (1, 1, True)
  assert out['restored_status'] == 'running'
  assert out['latest_after'] == 3


# --- Injected faults, in this process. ------------------------------------------------------

def _enospc(*args, **kwargs):
  raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _short_then_enospc(monkeypatch):
  """os.write writes half of what it is given, then the disk is full."""
  real_write = os.write
  calls = []

  def write(fd, data):
    calls.append(len(data))
    if len(calls) == 1:
      return real_write(fd, bytes(data[:len(data) // 2]))
    _enospc()

  monkeypatch.setattr(os, 'write', write)
  return calls


def test_injected_enospc_mid_row_truncates_back_and_keeps_errno(tmp_path, monkeypatch):
  appender = logs.CsvAppender(str(tmp_path / 'm.csv'))
  appender.append({'global_step': 1, **ROW})
  before = _read(tmp_path / 'm.csv')
  with monkeypatch.context() as m:
    calls = _short_then_enospc(m)
    with pytest.raises(OSError) as error:
      appender.append({'global_step': 2, **ROW})
  assert len(calls) == 2  # The row went out in one write; the retry was for its rest.
  assert type(error.value) is OSError and error.value.errno == errno.ENOSPC
  assert _read(tmp_path / 'm.csv') == before
  appender.append({'global_step': 3, **ROW})
  assert _steps(tmp_path / 'm.csv') == [1, 3]


def test_failed_rollback_still_raises_the_write_error(tmp_path, monkeypatch):
  appender = logs.CsvAppender(str(tmp_path / 'm.csv'))
  appender.append({'global_step': 1, **ROW})
  _short_then_enospc(monkeypatch)
  monkeypatch.setattr(os, 'ftruncate', lambda fd, size: _enospc())
  with pytest.raises(OSError) as error:
    appender.append({'global_step': 2, **ROW})
  assert error.value.errno == errno.ENOSPC
  assert any('partial row' in note for note in error.value.__notes__)


@pytest.mark.parametrize('fault', ['write', 'fsync', 'replace'])
def test_injected_enospc_in_write_json_removes_temp_file(tmp_path, monkeypatch, fault):
  path = tmp_path / 'hparams.json'
  logs.write_json(str(path), {'lr': 0.1})
  monkeypatch.setattr(os, fault, _enospc)
  with pytest.raises(OSError) as error:
    logs.write_json(str(path), {'lr': 0.2})
  monkeypatch.undo()
  assert type(error.value) is OSError and error.value.errno == errno.ENOSPC
  assert logs.read_json(str(path)) == {'lr': 0.1}
  assert os.listdir(tmp_path) == ['hparams.json']


@pytest.mark.parametrize('fault', ['write', 'fsync', 'replace'])
def test_injected_enospc_in_csv_rewrite_keeps_original(tmp_path, monkeypatch, fault):
  logger = logs.MetricsLogger(str(tmp_path))
  logger.append_scalar_metrics(ROW, 1)
  logger.append_scalar_metrics(ROW, 2)
  before = _read(tmp_path / logs.MEASUREMENTS)
  with monkeypatch.context() as m:
    m.setattr(os, fault, _enospc)
    with pytest.raises(OSError) as error:
      logger.drop_rows_after_step(1)
    assert error.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
      logger.append_scalar_metrics({**ROW, 'new': 1.0}, 3)
  assert _read(tmp_path / logs.MEASUREMENTS) == before
  assert _temp_files(tmp_path) == []
  logger.append_scalar_metrics({**ROW, 'new': 1.0}, 3)  # Space freed: the rewrite goes through.
  assert _steps(tmp_path / logs.MEASUREMENTS) == [1, 2, 3]


def test_injected_enospc_at_checkpoint_commit_leaves_previous_latest(tmp_path, monkeypatch):
  params = {'w': np.arange(4, dtype=np.float32)}
  checkpoint.save(str(tmp_path), _state(1, params))
  real_rename = os.rename

  def rename(src, dst, *args, **kwargs):
    if '.orbax-checkpoint-tmp' in os.fspath(src):
      _enospc()
    return real_rename(src, dst, *args, **kwargs)

  with monkeypatch.context() as m:
    m.setattr(os, 'rename', rename)
    with pytest.raises(OSError) as error:
      checkpoint.save(str(tmp_path), _state(2, {'w': params['w'] + 1}))
  assert error.value.errno == errno.ENOSPC
  assert os.listdir(tmp_path / checkpoint.CHECKPOINT_SUBDIR) == ['1']
  assert checkpoint.latest_step(str(tmp_path)) == 1
  restored = checkpoint.restore(str(tmp_path), _state(0, {'w': np.zeros(4, np.float32)}))
  np.testing.assert_array_equal(restored.params['w'], params['w'])


# --- Permissions. ---------------------------------------------------------------------------

@pytest.mark.parametrize('umask', [0o022, 0o027])
def test_written_files_get_plain_open_permissions(tmp_path, umask):
  old = os.umask(umask)
  try:
    logs.write_json(str(tmp_path / 'flags_0.json'), {'a': 1})
    logger = logs.MetricsLogger(str(tmp_path))
    logger.append_scalar_metrics(ROW, 1, is_eval=True)
    new_csv = [logs.MEASUREMENTS, logs.EVAL_MEASUREMENTS]
    modes = {n: os.stat(tmp_path / n).st_mode & 0o777 for n in ['flags_0.json', *new_csv]}
    logger.append_scalar_metrics({**ROW, 'new': 1.0}, 2)  # Header rewrite.
    logger.drop_rows_after_step(1)  # Row-dropping rewrite.
    modes['rewritten'] = os.stat(tmp_path / logs.MEASUREMENTS).st_mode & 0o777
  finally:
    os.umask(old)
  assert set(modes.values()) == {0o666 & ~umask}, modes


# --- A real full disk: a tiny tmpfs, where this machine lets us mount one. -------------------

@pytest.fixture
def tiny_disk(tmp_path):
  mount_point = tmp_path / 'disk'
  mount_point.mkdir()
  try:
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(mount_point)],
                          capture_output=True, timeout=30)
  except (OSError, subprocess.SubprocessError):
    proc = None
  if proc is None or proc.returncode != 0:
    pytest.skip('cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)')
  try:
    yield mount_point
  finally:
    if subprocess.run(['umount', str(mount_point)], capture_output=True).returncode != 0:
      subprocess.run(['umount', '-l', str(mount_point)], capture_output=True)


def _fill(path):
  """Fill the disk with one file; return its size."""
  fd = os.open(path, os.O_WRONLY | os.O_CREAT)
  try:
    while True:
      os.write(fd, b'\0' * 4096)
  except OSError as e:
    assert e.errno == errno.ENOSPC
  finally:
    os.close(fd)
  return os.path.getsize(path)


def test_full_tmpfs_never_leaves_partial_rows_or_temp_files(tiny_disk):
  logger = logs.MetricsLogger(str(tiny_disk))
  path = tiny_disk / logs.MEASUREMENTS
  wide = {f'metric_{i:02d}': 1 / (i + 3) for i in range(12)}  # About 250 bytes a row.
  logger.append_scalar_metrics(wide, 0)
  logs.write_json(str(tiny_disk / 'hparams.json'), {'lr': 0.1})
  filler = tiny_disk / 'filler'
  os.truncate(filler, _fill(filler) - 4096)  # One page left, not a whole number of rows.
  written = [0]
  with pytest.raises(OSError) as error:
    for step in range(1, 100):
      logger.append_scalar_metrics(wide, step)
      written.append(step)
  assert type(error.value) is OSError and error.value.errno == errno.ENOSPC
  assert 0 < len(written) - 1 < 99 and _steps(path) == written
  with pytest.raises(OSError) as error:
    logs.write_json(str(tiny_disk / 'hparams.json'), {'lr': 'x' * 20_000})
  assert error.value.errno == errno.ENOSPC
  with pytest.raises(OSError):
    logger.append_scalar_metrics({**wide, 'new': 1.0}, 100)
  assert logs.read_json(str(tiny_disk / 'hparams.json')) == {'lr': 0.1}
  assert _temp_files(tiny_disk) == [] and _steps(path) == written
  os.remove(filler)  # Space freed: the same logger continues a well-formed file.
  logger.append_scalar_metrics({**wide, 'new': 1.0}, 100)
  assert _steps(path) == written + [100]


if __name__ == '__main__':
  signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  print(json.dumps(CHILD_SCENARIOS[sys.argv[1]](sys.argv[2])))
