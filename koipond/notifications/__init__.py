"""Notifications to Slack: an outbox in the table, rendering for Workflow Builder and incoming webhooks, delivery."""
