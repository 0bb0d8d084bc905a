"""Benchmark tracks: datasets, target models and their splits."""
