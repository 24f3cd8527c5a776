"""Clients of the Keeper API (httpx)."""
