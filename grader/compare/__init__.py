"""Stage 4: align the student's layers with the reference and say which layers are equivalent;
nothing here gives points (the check kinds in ``grader.checks`` do)."""
