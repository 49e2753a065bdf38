"""CIFAR-10 as AlgoPerf's development workload: ResNet-18 with batch norm, AlgoPerf's
splits, augmentation, target and budget."""

from __future__ import annotations

import math

from workloads.cifar import input_pipeline, models
from workloads.common.classification import ClassificationWorkload


class CifarWorkload(ClassificationWorkload):
  """Data: a prepared TFDS cifar10:3.0.2 under data_dir (`python -m workloads.download`).

  model_state is {'batch_stats': ...}; `model_fn` updates it iff `update_batch_norm`.
  """

  input_shape = (32, 32, 3)

  # AlgoPerf's values (algoperf/workloads/cifar/workload.py). AlgoPerf tests
  # `accuracy > target`; here it is `>=` (spec.Workload's rule for all workloads).
  VALIDATION_TARGET = 0.85
  TEST_TARGET = 0.85
  BUDGET_SEC = 3_600.0
  EVAL_PERIOD_SEC = 600.0
  STEP_HINT = 4_883  # 100 epochs at batch size 1024.
  DEFAULT_BATCH_SIZE = 128  # AlgoPerf's development CIFAR submission.

  NUM_TRAIN = input_pipeline.NUM_TRAIN
  NUM_VALIDATION = 5_000
  NUM_TEST = 10_000
  EVAL_BATCH_SIZE = 1_024
  # AlgoPerf rounds eval_train up to a multiple of the eval batch size.
  NUM_EVAL_TRAIN = math.ceil(NUM_VALIDATION / EVAL_BATCH_SIZE) * EVAL_BATCH_SIZE

  TRAIN_MEAN = (0.49139968, 0.48215827, 0.44653124)
  TRAIN_STDDEV = (0.24703233, 0.24348505, 0.26158768)

  def build_model(self):
    return models.make_model()

  def load_splits(self, data_dir):
    splits, self.data_location = input_pipeline.load_splits(
        data_dir, self.train_mean, self.train_stddev, self.num_eval_train_examples,
        self.num_train_examples)
    return splits

  def train_augment(self):
    return input_pipeline.make_augment(self.train_mean, self.train_stddev)
