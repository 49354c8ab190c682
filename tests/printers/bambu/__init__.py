"""Bambu adapter tests."""
