"""printers/bambu."""
