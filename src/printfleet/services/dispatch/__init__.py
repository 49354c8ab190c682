"""Printing from printfleet: dispatches (send a library file to a printer and start it) and the plate-clear gate."""
