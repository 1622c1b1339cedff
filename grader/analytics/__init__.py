"""Class analytics over a graded cohort (score distributions, common mistakes)."""
