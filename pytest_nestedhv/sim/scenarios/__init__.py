"""Shipped scenario files (TOML); the schema is in README.md next to them."""
