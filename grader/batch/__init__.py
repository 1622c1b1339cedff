"""Grading a folder: discovery, reuse of earlier results, worker processes, the output folder."""
