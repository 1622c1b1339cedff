"""Check kinds: each module one kind (its category, points, report section, hints), the
registry that loads them, the points rule and the scoring that adds them up."""
