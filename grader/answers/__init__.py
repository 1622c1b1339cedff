"""The exercise's written questions: their answers read from the notebook, checked where they
can be (the `facts` check kind in ``grader.checks``), and graded by a person (the TA page and
the manual-points file)."""
