"""Loss landscapes between trained solutions (Garipov et al., 2018): the segment, a trained
mode-connecting curve, and the plane through three points (docs/landscape.md).

Modules, one job each:
  geometry    curves (Bezier, polygonal chain), segment and plane grids as affine weights
              over trained points, Gram–Schmidt plane basis, barrier heights (NumPy only)
  points      reading trained points (params, model state) from trial checkpoints
  memory      how many parameter points one batched evaluation may hold
  batchnorm   recomputing batch-norm statistics at a point from training batches
  evaluate    the batched (vmapped) evaluation of many points, and the per-point loop
  curve       training a curve's bends with Optax, resumable from Orbax checkpoints
  views       interpolate / connect / plane: evaluation plus the numbers they report
  report      the output folder: .npz, PNGs, JSON summaries, one HTML page, atomically
  plots       the matplotlib figures
"""


class LandscapeError(ValueError):
  """A landscape cannot be computed as asked (bad input); the message says why and how."""
