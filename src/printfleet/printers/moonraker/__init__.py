"""Klipper printers through Moonraker's JSON-RPC websocket."""
