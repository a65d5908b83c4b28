"""Test data generated on the fly (nothing large is committed)."""
