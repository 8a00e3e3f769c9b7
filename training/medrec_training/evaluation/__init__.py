"""Checks of the app's `medrec evaluate` against the benchmark harness's own definitions."""
