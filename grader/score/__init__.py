"""Stage 6: points, status and the cohort's view of what went wrong."""
