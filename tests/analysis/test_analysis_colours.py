"""The analysis figures colour a series by its name: the same series keeps its colour
whatever else is plotted and in whatever order, and no two series of a figure share one."""

from algoperf.plot_colours import colour_of, unique_colours_by_name


def test_a_name_keeps_its_colour_whatever_else_is_plotted():
  names = ['nadamw', 'adam', 'sgd', 'shampoo', 'momentum']
  assert len({colour_of(n) for n in names}) == len(names)  # no collision among these
  one = unique_colours_by_name(names[:4])
  other = unique_colours_by_name(list(reversed(names)))
  assert all(one[n] == other[n] == colour_of(n) for n in names[:4])
  assert one == unique_colours_by_name(sorted(names[:4]))


def test_no_two_series_share_a_colour_up_to_twenty():
  names = [f'algorithm_{k}' for k in range(20)]
  colours = unique_colours_by_name(names)
  assert len(set(colours.values())) == 20
  # Colliding names: the first (sorted) keeps its hash colour, the next moves on.
  a, b = next((x, y) for i, x in enumerate(sorted(names)) for y in sorted(names)[i + 1:]
              if colour_of(x) == colour_of(y))
  assert colours[a] == colour_of(a) and colours[b] != colour_of(b)
