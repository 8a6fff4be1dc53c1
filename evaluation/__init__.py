"""Detector evaluation and training (`mz eval ...`, `mz train ...`): development tools on
recorded datasets, kept out of the edge runtime package (not needed on a Raspberry Pi)."""
