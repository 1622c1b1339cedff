"""Renderers only present results; none of them computes a grade."""
