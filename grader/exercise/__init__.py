"""An exercise: its spec (plain data), how a spec is built from a reference, its calibration."""
