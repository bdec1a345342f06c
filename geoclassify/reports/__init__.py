"""Evaluation and benchmark reports: metrics, plots, Markdown / HTML pages."""
