"""Evaluation: confusion-matrix metrics (shared by every evaluation) and the ``swiftcast eval`` command."""
