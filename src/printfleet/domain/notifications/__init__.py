"""Notifications: channels, rules, per-printer preferences, the outbox message and what each domain event announces."""
