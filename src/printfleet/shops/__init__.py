"""Shop adapters: read orders from a shop and write shipments back (Etsy first). Like :mod:`printfleet.printers`,
an adapter layer: it imports :mod:`printfleet.domain` and implements what the services ask of a shop."""
