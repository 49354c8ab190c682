"""The composition root: the only package that knows the concrete store, adapters and metrics, and wires them.

``root``: :func:`build_app` and the lifespan that starts and stops every part; ``parts``: the pieces the root shares
(:class:`Recovery`, :class:`Runtime`, the Discord bot's factory, a part's logged start and stop); one module per
capability wired (``farm``: announcements across processes, ``materials``, ``notifications``, ``orders``: the Etsy
shop, ``schedule``). Every layer is forbidden to import it (the import-layer contract in pyproject.toml).
"""

from printfleet.app.parts import Recovery, Runtime, discord_bot
from printfleet.app.root import build_app

__all__ = ["Recovery", "Runtime", "build_app", "discord_bot"]
