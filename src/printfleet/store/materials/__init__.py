"""The material inventory's tables (schema: migration 0008) and repository."""
