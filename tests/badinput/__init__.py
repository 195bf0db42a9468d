"""The bad-input catalogue: each bad input, the specific error, and what is (not) written."""
