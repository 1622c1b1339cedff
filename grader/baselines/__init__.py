"""Reference models (baselines) an exercise declares, trained once per exercise by the grader
(``grader baselines``) and shown beside every student's network: ``declare`` reads and validates
the declaration, ``train`` measures them, ``store`` reads the measured file, ``compare`` puts a
result beside them."""
