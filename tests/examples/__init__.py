"""Tests that run the scripts under ``examples/`` and check what they did."""
