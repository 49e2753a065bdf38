"""Outputs on disk: PNGs, curve data, tables, index.md/index.html, the manifest."""

import json

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import hand_built_tree

from algoperf import analysis
from algoperf.analysis import figures, report

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def written(tmp_path_factory):
  root = tmp_path_factory.mktemp('report')
  tree = hand_built_tree(root / 'experiments')
  out = root / 'out'
  result = analysis.analyze_directory(str(tree), analysis.AnalysisOptions(num_points=3))
  return result, out, analysis.write_analysis(result, str(out))


def test_every_file_listed_exists_and_pngs_are_images(written):
  _, out, files = written
  assert set(files) == {'curves_wl.png', 'curves_wl.csv', 'sensitivity_wl.png', 'summary.csv',
                        'trials.csv', 'summary.md', 'index.md', 'index.html', 'issues.txt'}
  for name in files:
    assert (out / name).is_file()
  for name in ('curves_wl.png', 'sensitivity_wl.png'):
    data = (out / name).read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
  assert analysis.analysis_outputs(str(out)) == files
  assert json.loads((out / report.MANIFEST).read_text())['files'] == files


def test_curve_data_median_and_iqr_by_hand(written):
  _, out, _ = written
  table = pd.read_csv(out / 'curves_wl.csv')
  beta = table[(table['series'] == 'beta') & (table['x_axis'] == 'global_step')
               & (table['column'] == 'validation/accuracy')]
  # beta's trials at steps 100, 200: (0.7, 0.85), (0.75, 0.8), (0.2, 0.5); grid 100, 150, 200.
  np.testing.assert_allclose(beta['x'], [100, 150, 200])
  np.testing.assert_allclose(beta['median'], [0.7, 0.775, 0.8])
  np.testing.assert_allclose(beta['q25'], [0.45, 0.5625, 0.65])
  np.testing.assert_allclose(beta['q75'], [0.725, 0.775, 0.825])
  assert beta['num_trials'].tolist() == [3, 3, 3]
  # Loss (1 - accuracy here) is plotted as well, for train and validation.
  assert {'train/accuracy', 'validation/loss', 'train/loss'} <= set(table['column'])


def test_summary_files(written):
  _, out, _ = written
  table = pd.read_csv(out / 'summary.csv').set_index('submission')
  assert table.loc['alpha', 'time_to_target_median'] == np.inf
  assert table.loc['beta', 'time_to_target_median'] == 400
  assert table.loc['beta', 'hp/weight_decay'] == 0.1
  assert table.loc['alpha', 'hp/learning_rate'] == 0.003
  trials = pd.read_csv(out / 'trials.csv')
  assert len(trials) == 8 and set(trials['seed']) == {11, 12, 13, 14, 15, 21, 22, 23}
  md = (out / 'summary.md').read_text()
  assert '| beta | wl | beta | accuracy | 0.8 | 1 | 3 | 2 | 400 | 100 | 0.85 | study_0/trial_1 ' \
         '| 21 | learning_rate=0.001, weight_decay=0.1 |' in md


def test_index_pages_link_every_png_and_hold_the_table(written):
  _, out, files = written
  md, page = (out / 'index.md').read_text(), (out / 'index.html').read_text()
  for name in (f for f in files if f.endswith('.png')):
    assert f']({name})' in md
    assert f'src="{name}"' in page
  assert '| alpha | wl | alpha | accuracy | 0.8 | 2 | 5 | 2 | inf | 200 | 0.95 |' in md
  assert '<td>study_0/trial_2</td>' in page and '<td>learning_rate=0.003</td>' in page
  assert 'validation accuracy target 0.8 (higher is better; from meta_data' in page
  assert 'http' not in page  # nothing fetched from the network


def test_curves_figure_has_target_line_and_both_axes(written):
  result, _, _ = written
  fig = figures.curves_figure('wl', result.targets['wl'], result.curves['wl'])
  axes = fig.get_axes()
  assert len(axes) == 4  # accuracy and loss rows, step and time columns
  assert [ax.get_xlabel() for ax in axes[:2]] == ['global step (updates)', 'submission time (s)']
  targets = [line for ax in axes[:2] for line in ax.get_lines()
             if list(line.get_ydata()) == [0.8, 0.8]]
  assert len(targets) == 2
  assert not any(list(line.get_ydata()) == [0.8, 0.8] for line in axes[2].get_lines())


def test_sensitivity_panels_for_varying_numeric_hyperparameters(written):
  result, _, _ = written
  points = report.sensitivity_points(result, 'wl')
  assert figures.varying_hyperparameters(points) == ['learning_rate', 'weight_decay']
  fig = figures.sensitivity_figure('wl', result.targets['wl'], points)
  visible = [ax for ax in fig.get_axes() if ax.get_visible()]
  assert [ax.get_xscale() for ax in visible] == ['log', 'log']
  reached = sum(len(c.get_offsets()) for c in visible[0].collections
                if c.get_facecolors().size and c.get_facecolors()[0][3] > 0)
  assert reached == 4  # alpha 2 + beta 2 trials reached the target


def test_page_links_for_another_page(written):
  _, _, files = written
  assert analysis.page_links(files, prefix='analysis') == [
      ('Training analysis: curves, sensitivity, summary', 'analysis/index.html'),
      ('Learning curves: wl', 'analysis/curves_wl.png'),
      ('Hyperparameter sensitivity: wl', 'analysis/sensitivity_wl.png')]
