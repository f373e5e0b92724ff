"""Runnable examples of Assay in an application (start them from the repository root)."""
