"""Accounts: sign-in, sessions, personal API tokens, users and roles, Discord linking, and the audit log."""

from printfleet.services.accounts.service import AccountService, AccountSettings

__all__ = ["AccountService", "AccountSettings"]
