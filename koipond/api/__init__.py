"""The Keeper's typed API contract: every request and response model, and the client that speaks it."""
