"""Cmdlet implementations over the model; each module exposes CMDLETS (and APPLICATIONS)."""
