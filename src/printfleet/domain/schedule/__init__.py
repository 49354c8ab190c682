"""Scheduled prints: prints queued to start by themselves, with priority, chains with time offsets, deadlines and
staffed hours (pure rules; the scheduler service applies them)."""
