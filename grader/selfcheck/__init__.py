"""The student's in-notebook self-check: which cells to skip, whether the notebook is ready."""
