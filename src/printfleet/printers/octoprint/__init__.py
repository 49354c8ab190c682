"""printers/octoprint."""
