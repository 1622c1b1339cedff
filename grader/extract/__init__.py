"""Stage 3: from the kernel's report to Keras models, their graphs, and the one to grade."""
