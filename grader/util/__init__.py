"""Concepts several stages share, each written once: student text made safe to show
(``text``), file digests and log tails (``files``), library versions (``versions``).

Not a grab-bag: a helper only one module uses lives in that module.
"""
