"""Moved to ``pytest_nestedhv.secrets`` (a leaf module config.py can import); kept for importers of the old path."""
from ..secrets import MASK, MIN_MASKED_LENGTH, GuestCredential, Secret, SecretMask, SecretMaskFilter

__all__ = ["MASK", "MIN_MASKED_LENGTH", "GuestCredential", "Secret", "SecretMask", "SecretMaskFilter"]
