"""Scheduled prints: the service people use (create, list, change, cancel, timeline) and the scheduler task that
starts them through the dispatch service."""

from printfleet.services.schedule.policy import SchedulePolicy
from printfleet.services.schedule.scheduler import Scheduler
from printfleet.services.schedule.service import ScheduleService

__all__ = ["SchedulePolicy", "ScheduleService", "Scheduler"]
