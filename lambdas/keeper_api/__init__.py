"""The Keeper: HTTP API for people, deploy tools and Schools (API Gateway HTTP API -> Lambda)."""
