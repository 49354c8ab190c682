"""Accounts: people, their roles and what each role may do, credentials, sign-in throttling and the audit log.

Pure rules only: the store keeps users, sessions and tokens; the services carry out sign-in and the checks; the API
asks :func:`~printfleet.domain.accounts.roles.allows` through one dependency per route.
"""
