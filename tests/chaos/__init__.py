"""Chaos: worker processes SIGKILLed at random moments, lease fencing under SIGSTOP.

``python -m tests.chaos [--long]`` runs the sessions and prints the tables
published in docs/guarantees.md.
"""
