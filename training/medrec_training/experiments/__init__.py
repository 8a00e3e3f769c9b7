"""Experiments beyond the benchmark (e.g. cold_start: codes never seen in training)."""
