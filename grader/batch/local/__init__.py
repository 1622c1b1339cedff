"""The local executor: worker processes on this machine."""
