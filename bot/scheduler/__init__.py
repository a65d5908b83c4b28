"""Scheduled jobs: idempotent functions of durable database state, named in a registry."""
