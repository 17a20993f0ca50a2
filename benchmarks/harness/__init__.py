"""Pieces of the benchmark harness: models, targets, load generators and the report.

Nothing here is imported by tensorserve itself; the scripts one level up put this
folder's parent on ``sys.path`` and compose these modules.
"""
