"""Simulated residents: a daily routine of ambient-sensor events, vital signs with slow
drifts, and a scenario per incident type. Pure generators with a seed (no clock, no I/O),
so the demo, the tests and the detectors' evaluation replay exactly the same days.
"""
