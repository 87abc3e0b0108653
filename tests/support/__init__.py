"""Helpers shared by the tests (no test functions here)."""
