"""Printer adapter tests."""
