"""A submission shipped as a package: its helpers live in sibling modules."""
