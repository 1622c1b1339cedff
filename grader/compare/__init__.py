"""Stage 4: align the student's layers with the reference, with hints and equivalences."""
