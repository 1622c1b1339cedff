"""The exercise's written questions: their answers read from the notebook, checked where they
can be (facts), and graded by a person (the TA page and the manual-points file)."""
