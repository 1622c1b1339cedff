"""Stage 5: train the student's architecture briefly, in a separate process, to verify accuracy."""
