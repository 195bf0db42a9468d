"""Contention: several engine processes enqueue and drain runs on one SQLite file."""
