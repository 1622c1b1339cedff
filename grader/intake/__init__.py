"""Stage 1: what comes in: a submission read safely from disk, and the course's data."""
