"""How the command-line scripts answer `--help` and usage errors.

absl exits 1 on `--help` and prints the whole help text before a usage error, so the one
line a user needs scrolls out of sight. Here `--help` (or `-h`) prints the help and exits 0
before any flag is parsed, and a bad flag or a `app.UsageError` from `main` prints one line
starting with `error:` first, then where the help is. Scripts keep heavy imports (JAX, the
scorer) inside `main`, so `--help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from absl import app, flags

_SHORT_HELP = frozenset({'-h', '-?', '--?', '-help', '--help', '-helpshort', '--helpshort'})
_FULL_HELP = frozenset({'-helpfull', '--helpfull'})


def _help_asked(args: list[str]) -> str | None:
  """'short', 'full' or None, from the arguments before a `--`."""
  if '--' in args:
    args = args[:args.index('--')]
  if _FULL_HELP.intersection(args):
    return 'full'
  return 'short' if _SHORT_HELP.intersection(args) else None


def usage_error(message: str, exitcode: int = 1) -> None:
  """Exit with the error on the first line, then a pointer to the help."""
  prog = os.path.basename(sys.argv[0])
  print(f'error: {message}\nRun "python {prog} --help" for usage.', file=sys.stderr)
  sys.exit(exitcode)


def _parse_flags(argv: list[str]) -> list[str]:
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    usage_error(str(e))


def run(main: Callable[[list[str]], int | None],
        help_footer: Callable[[], str] | None = None) -> None:
  """`app.run(main)` with the conventions above; `help_footer` adds lines to `--help`."""
  asked = _help_asked(sys.argv[1:])
  if asked:
    app.usage(shorthelp=asked == 'short', writeto_stdout=True)
    if help_footer is not None:
      print('\n' + help_footer())
    if asked == 'short':
      print('\nTry --helpfull to get a list of all flags.')
    sys.exit(0)

  def main_with_usage(argv):
    try:
      return main(argv)
    except app.UsageError as e:
      usage_error(str(e), e.exitcode)
  app.run(main_with_usage, flags_parser=_parse_flags)


# What an interrupted command prints and returns (the shell's code for SIGINT).
INTERRUPTED_EXIT_CODE = 130


def report_interrupted(error: KeyboardInterrupt, how_to_continue: str) -> int:
  """Say where Ctrl-C stopped a study and how to go on; returns the exit code.

  `error` may be `experiment.TrialInterrupted` (it knows the trial); `how_to_continue`
  names the command to rerun, e.g. 'Rerun the same command with --resume_last_run'.
  """
  hint = getattr(error, 'resume_hint', None)
  where = hint() if callable(hint) else 'interrupted'
  print(f'\n{where}. {how_to_continue} to continue: finished trials are kept, the '
        'interrupted one resumes from its last checkpoint.', file=sys.stderr)
  return INTERRUPTED_EXIT_CODE
