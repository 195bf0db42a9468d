"""Typing usage files checked by ``mypy --strict`` (see ``test_typing.py``)."""
