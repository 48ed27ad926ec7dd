"""``python -m pytest_nestedhv.history``: render history.html from the run history database."""
