"""Security adapters: password hashing (argon2id through pwdlib). Implements the accounts service's ports."""
