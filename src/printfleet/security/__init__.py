"""Security adapters: password hashing (argon2id through pwdlib), implementing the accounts service's ports; secrets
at rest (Fernet)."""
