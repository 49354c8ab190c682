"""Shop orders: product profiles, receiving orders (from a shop, typed in, or a CSV file), scheduling them as
prints, and following their prints to ``printed``."""

from printfleet.services.orders.ports import OrderRepository, OrdersPolicy
from printfleet.services.orders.service import OrderNotFound, OrderService, OrderView, ProfileNotFound

__all__ = ["OrderNotFound", "OrderRepository", "OrderService", "OrderView", "OrdersPolicy", "ProfileNotFound"]
