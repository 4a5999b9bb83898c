"""Tests for the source adapters."""
