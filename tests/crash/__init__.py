"""Crash tests: engines in real subprocesses, killed with SIGKILL mid-run."""
