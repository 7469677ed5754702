"""Datasets, label definitions and transforms (Cityscapes layout)."""
