"""The student's in-notebook self-check: which cells to skip, whether the notebook is ready,
and how its verdict is shown (``grader.notebook`` is the public import students use)."""
