"""Adapters to filament inventories kept outside printfleet (Spoolman)."""
