"""Stage 2: run the notebook in a (sandboxed) kernel and read back the JSON report."""
