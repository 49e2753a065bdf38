"""A sibling module imported by plain name; plain_a and plain_b each have their own."""

WHICH = 'plain_b'
