"""Shop orders' tables (schema: migration 0013) and repository."""
