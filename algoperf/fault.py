"""Say whose fault an exception is: the submission's own frames, and what to do about it.

A submission that raises (its own bug, a package it needs, a JAX API its JAX version no
longer has) gets one message that points at its file and line, so a user sees at once that
`loss[0]` on line 233 of their file is the problem, not something inside the runner.
"""

from __future__ import annotations

import os
import traceback

# How many of the submission's innermost frames a message shows.
MAX_FRAMES = 4

# Packages a submission may import that this project does not install by default.
_INSTALL_HINTS = {
    'torch': "pip install -e '.[torch]' (PyTorch is an optional extra here; "
             'docs/environments.md)',
    'torchvision': "pip install -e '.[torch]' (docs/environments.md)",
    'tensorflow': "pip install -e '.[tf]'",
    'wandb': 'pip install wandb',
}
# AlgoPerf repository folders submissions import by dotted path (AlgoPerf runs from its
# repository root, so `algorithms.x.y` resolves there).
_ALGOPERF_REPO_FOLDERS = ('algorithms', 'reference_algorithms', 'prize_qualification_baselines',
                          'submissions', 'baselines')
# Removed JAX APIs, as the AttributeError/TypeError text names them, and the pinned set
# (constraints/algoperf-<set>.txt) whose JAX still has them.
_REMOVED_JAX_APIS = {
    "'jax' has no attribute 'tree_map'": 'v0.5',
    "'jax' has no attribute 'tree_multimap'": 'v0.5',
    "'jax' has no attribute 'tree_leaves'": 'v0.5',
    "'jax' has no attribute 'tree_flatten'": 'v0.5',
    "'jax' has no attribute 'tree_unflatten'": 'v0.5',
    "'jax' has no attribute 'tree_structure'": 'v0.5',
    "unexpected keyword argument 'a_min'": 'v0.6',
    "unexpected keyword argument 'a_max'": 'v0.6',
}


def submission_frames(error: BaseException, root: str) -> list[traceback.FrameSummary]:
  """The frames of `error`'s traceback that run code from files under `root`."""
  return [frame for frame in traceback.extract_tb(error.__traceback__)
          if _under(frame.filename, root)]


def _under(filename: str, root: str) -> bool:
  return os.path.abspath(filename).startswith(os.path.join(os.path.abspath(root), ''))


def describe(error: BaseException, root: str) -> str:
  """Text to append to a one-line error: where in the submission, and a hint, if known."""
  parts = []
  frames = traceback.extract_tb(error.__traceback__)
  own = [frame for frame in frames if _under(frame.filename, root)] if root else []
  if own:
    lines = ["\n  in the submission's own code (innermost last):"]
    for frame in own[-MAX_FRAMES:]:
      lines.append(f'    {os.path.relpath(frame.filename, root)}, line {frame.lineno}, '
                   f'in {frame.name}')
      if frame.line:
        lines.append(f'      {frame.line.strip()}')
    if frames and frames[-1] is not own[-1]:  # It was raised further in, by a library.
      inner = frames[-1]
      lines.append(f'    ... raised inside {_short(inner.filename)}, line {inner.lineno}, '
                   f'in {inner.name}')
    parts.append('\n'.join(lines))
  hint = _hint(error)
  if hint:
    parts.append(f'\n  hint: {hint}')
  return ''.join(parts)


def _short(filename: str) -> str:
  """A library file's path from its package on (…/site-packages/jax/_src/x.py -> jax/_src/x.py)."""
  parts = os.path.normpath(filename).split(os.sep)
  for marker in ('site-packages', 'dist-packages'):
    if marker in parts:
      return '/'.join(parts[parts.index(marker) + 1:])
  return filename


def _hint(error: BaseException) -> str | None:
  if isinstance(error, ModuleNotFoundError) and error.name:
    top = error.name.split('.')[0]
    if top == 'algorithmic_efficiency':
      return (f'{error.name} is a module of AlgoPerf v0.5 this project does not provide; '
              'docs/legacy_submissions.md lists what legacy mode provides.')
    if top == 'algoperf':
      return (f'{error.name} is part of AlgoPerf\'s runner, not of its submission API: a '
              'submission may import only algoperf.spec and algoperf.jax_sharding_utils '
              '(docs/compliance.md), which is all this project provides; remove the import.')
    if top in _ALGOPERF_REPO_FOLDERS:
      return (f'{top!r} is a folder of AlgoPerf\'s repository, which AlgoPerf runs '
              'submissions from: keep the submission inside that folder tree (with its '
              '__init__.py files) or put the folder holding it on PYTHONPATH.')
    install = _INSTALL_HINTS.get(top, f'pip install {top}')
    return f'the submission needs the package {top!r}, which is not installed: {install}'
  text = str(error)
  if isinstance(error, AttributeError | TypeError):
    pinned = next((name for api, name in _REMOVED_JAX_APIS.items() if api in text), None)
    if pinned is not None:
      import jax
      return (f'the submission calls a JAX API that JAX {jax.__version__} no longer has; '
              f'run it in the environment it was written for (AlgoPerf {pinned}: pip '
              f"install -c constraints/algoperf-{pinned}.txt -e '.[dev]'; "
              'docs/environments.md).')
  return None


def full_traceback(error: BaseException) -> str:
  """The whole traceback of what the submission raised, for the trial folder."""
  cause = error.__cause__ or error
  return ''.join(traceback.format_exception(cause))
