"""printers/prusalink."""
