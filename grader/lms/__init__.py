"""The learning-management side: roster matching, gradebook exports, lateness policy."""
