"""``python -m printfleet``."""

from printfleet.cli import main

main()
