"""Evaluations: task accuracy per family and effort (safety evaluations come later)."""
