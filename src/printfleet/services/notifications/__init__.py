"""Notifications: channel, rule and preference management, the outbox writer and the delivery worker."""

from printfleet.services.notifications.outbox import Outbox
from printfleet.services.notifications.service import NotificationService

__all__ = ["NotificationService", "Outbox"]
