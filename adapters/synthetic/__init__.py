"""Seeded, deterministic synthetic source data: invented people, written in each source's real format."""
