"""The one error a data loader raises when its files are absent or unreadable."""


class DatasetUnavailableError(FileNotFoundError):
  """Data is missing or corrupt; the message names the path and how to get the data.

  Loaders raise it at once, before any download attempt or retry, so an offline run
  fails in milliseconds instead of hanging (docs/runner_rules.md, "Data").
  """
