"""Dispatch: printfleet sending a sliced file to a printer and starting it, reliably (DESIGN.md invariant 8)."""
