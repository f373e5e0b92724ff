"""Labeling sessions: several reviewers answer the same questions about the same traces.

:mod:`assay.labeling.agreement` measures how far the reviewers agree (pure, no I/O).
"""
