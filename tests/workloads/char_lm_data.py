"""A small zText module in the real package's format, for the char_lm tests."""

import os

import numpy as np

from workloads.char_lm import input_pipeline

WORDS = ('the', 'and', 'of', 'Lord', 'said', 'to', 'him', 'land', 'people', 'went', 'out',
         'city', 'king', 'house', 'water', 'day', 'night', 'were', 'upon', 'heaven', 'earth')


def osis_block(rng: np.random.Generator, num_sentences: int) -> bytes:
  """OSIS-like markup as in the real module: <w> words, footnotes, milestones, quotes."""
  sentences = []
  for i in range(num_sentences):
    words = [f'<w lemma="strong:H{rng.integers(9999):04d}">{w}</w>'
             for w in rng.choice(WORDS, size=rng.integers(4, 12))]
    if i % 7 == 0:
      words.insert(1, '<note placement="foot"><reference>1:1</reference>A note.</note>')
    sentence = ' '.join(words)
    if i % 5 == 0:
      sentence = f'\u201c{sentence}\u201d &amp; more'
    sentences.append(f'<div sID="p{i}" type="x-p"/>{sentence.capitalize()}.')
  return ' '.join(sentences).encode('utf-8')


def write_module(directory, seed: int = 0, num_sentences: int = 120) -> None:
  """A zText module: Old Testament of 3 blocks, New Testament of 2."""
  rng = np.random.default_rng(seed)
  for testament, num_blocks in (('ot', 3), ('nt', 2)):
    input_pipeline.write_blocks(os.fspath(directory), testament,
                                [osis_block(rng, num_sentences) for _ in range(num_blocks)])
