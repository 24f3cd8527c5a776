"""Environment variable names, shared by the settings code and the CDK app so they never drift."""

from __future__ import annotations

AWS_ENDPOINT = "KOIPOND_AWS_ENDPOINT"
AWS_REGION = "KOIPOND_AWS_REGION"
TABLE_NAME = "KOIPOND_TABLE_NAME"
ADMIN_TOKEN = "KOIPOND_ADMIN_TOKEN"
POLL_INTERVAL_SECONDS = "KOIPOND_POLL_INTERVAL_SECONDS"
MISSED_POLLS = "KOIPOND_MISSED_POLLS"
# The allocator: how often it runs and how long a holder keeps its lease without renewing it.
ALLOCATOR_PERIOD_SECONDS = "KOIPOND_ALLOCATOR_PERIOD_SECONDS"
ALLOCATOR_LEASE_SECONDS = "KOIPOND_ALLOCATOR_LEASE_SECONDS"
MAX_RUNNING_TESTS = "KOIPOND_MAX_RUNNING_TESTS"
DEFAULT_SCHOOL_CAPACITY = "KOIPOND_DEFAULT_SCHOOL_CAPACITY"
MAX_KOI_PER_TEST = "KOIPOND_MAX_KOI_PER_TEST"
KEEPER_URL = "KOIPOND_KEEPER_URL"
TOKEN = "KOIPOND_TOKEN"
PROMETHEUS_URL = "KOIPOND_PROMETHEUS_URL"
GUARD_CLUSTERS = "KOIPOND_GUARD_CLUSTERS"
GUARD_TIMEOUT_SECONDS = "KOIPOND_GUARD_TIMEOUT_SECONDS"
TOKEN_QUEUE_NAME = "KOIPOND_TOKEN_QUEUE_NAME"
TOKEN_DLQ_NAME = "KOIPOND_TOKEN_DLQ_NAME"
TOKEN_BUCKET = "KOIPOND_TOKEN_BUCKET"
TOKEN_KMS_ALIAS = "KOIPOND_TOKEN_KMS_ALIAS"
TOKEN_TTL_SECONDS = "KOIPOND_TOKEN_TTL_SECONDS"
TOKEN_RENEW_HORIZON_SECONDS = "KOIPOND_TOKEN_RENEW_HORIZON_SECONDS"
TOKEN_MINT_ADMIN_TOKEN = "KOIPOND_TOKEN_MINT_ADMIN_TOKEN"
# On AWS the two tokens above come from Secrets Manager: these name the secrets (ARN or name) instead.
ADMIN_TOKEN_SECRET = "KOIPOND_ADMIN_TOKEN_SECRET"
TOKEN_MINT_ADMIN_TOKEN_SECRET = "KOIPOND_TOKEN_MINT_ADMIN_TOKEN_SECRET"
TOKEN_MINT_TIMEOUT_SECONDS = "KOIPOND_TOKEN_MINT_TIMEOUT_SECONDS"
TOKEN_BACKOFF_BASE_SECONDS = "KOIPOND_TOKEN_BACKOFF_BASE_SECONDS"
TOKEN_BACKOFF_CAP_SECONDS = "KOIPOND_TOKEN_BACKOFF_CAP_SECONDS"
# The only origins (scheme://host:port, comma-separated) the mint token may ever be sent to; unset: none.
TOKEN_MINT_ORIGINS = "KOIPOND_TOKEN_MINT_ORIGINS"
# The only S3 locations (s3://bucket/prefix, comma-separated) behavior sources may read usage exports from;
# unset: none, so every S3 source is refused. The release tick's IAM grants read of exactly these.
BEHAVIOR_SOURCE_LOCATIONS = "KOIPOND_BEHAVIOR_SOURCE_LOCATIONS"
# Caps on token jobs: users per job, jobs still running per caller, batches the worker queues per plan step.
TOKEN_MAX_USERS_PER_JOB = "KOIPOND_TOKEN_MAX_USERS_PER_JOB"
TOKEN_MAX_RUNNING_JOBS = "KOIPOND_TOKEN_MAX_RUNNING_JOBS"
TOKEN_PLAN_STEP_BATCHES = "KOIPOND_TOKEN_PLAN_STEP_BATCHES"
# Deploy verdicts: how long after a soak window ends its data is complete in Prometheus (scrape and
# ingestion delay), and how long a verdict may wait for a readable Prometheus before it is inconclusive.
DEPLOY_SETTLE_SECONDS = "KOIPOND_DEPLOY_SETTLE_SECONDS"
DEPLOY_JUDGE_DEADLINE_SECONDS = "KOIPOND_DEPLOY_JUDGE_DEADLINE_SECONDS"
# Notifications: the Secrets Manager secret (ARN or name) holding the Slack webhook configuration.
NOTIFICATION_SECRET = "KOIPOND_NOTIFICATION_SECRET"
# History: days before high-volume events (reallocations) expire through the table's TTL.
HISTORY_RETENTION_DAYS = "KOIPOND_HISTORY_RETENTION_DAYS"
# The School's HTTP client for koi calls: "pyreqwest" (the default) or "native" (school_container/http_client.py).
SCHOOL_HTTP_CLIENT = "KOIPOND_SCHOOL_HTTP_CLIENT"
