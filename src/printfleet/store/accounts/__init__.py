"""Accounts in the store: users, sessions, personal API tokens, sign-in failure counts, one-time codes, audit log."""
