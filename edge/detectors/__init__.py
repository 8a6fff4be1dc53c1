"""Pure, streaming detectors run by the edge agent (NumPy only; no I/O, no clock)."""
