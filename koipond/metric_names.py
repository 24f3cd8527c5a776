"""Every Prometheus metric name koipond exposes or queries, with the labels and values its queries rely on."""

from __future__ import annotations

# prometheus_client exposes a counter as `<name>_total` and a histogram as `<name>_bucket`, `_count`
# and `_sum`: producers register the base names, scrapers and PromQL read the exposed series. Every
# value here is a public interface (dashboards, guards and deploy SLIs name them), so never rename one.

# A School's metrics (school_container.metrics).
SCHOOL_WEB_API_CALLS = "koi_pond_school_web_api_calls"
SCHOOL_WEB_API_CALLS_TOTAL = f"{SCHOOL_WEB_API_CALLS}_total"
SCHOOL_WEB_API_CALL_FAILURES = "koi_pond_school_web_api_call_failures"
SCHOOL_WEB_API_CALL_FAILURES_TOTAL = f"{SCHOOL_WEB_API_CALL_FAILURES}_total"
SCHOOL_WEB_API_CALL_DURATION_SECONDS = "koi_pond_school_web_api_call_duration_seconds"
SCHOOL_WEB_API_CALL_DURATION_SECONDS_BUCKET = f"{SCHOOL_WEB_API_CALL_DURATION_SECONDS}_bucket"
SCHOOL_WEBSOCKET_CONNECTS = "koi_pond_school_websocket_connects"
SCHOOL_WEBSOCKET_CONNECTS_TOTAL = f"{SCHOOL_WEBSOCKET_CONNECTS}_total"
SCHOOL_WEBSOCKET_CONNECT_FAILURES = "koi_pond_school_websocket_connect_failures"
SCHOOL_WEBSOCKET_CONNECT_FAILURES_TOTAL = f"{SCHOOL_WEBSOCKET_CONNECT_FAILURES}_total"
SCHOOL_WEBSOCKET_DISCONNECTS = "koi_pond_school_websocket_disconnects"
SCHOOL_WEBSOCKET_DISCONNECTS_TOTAL = f"{SCHOOL_WEBSOCKET_DISCONNECTS}_total"
SCHOOL_WEBSOCKET_CONNECTIONS = "koi_pond_school_websocket_connections"
SCHOOL_WEBSOCKET_EVENTS = "koi_pond_school_websocket_events"
SCHOOL_WEBSOCKET_EVENTS_TOTAL = f"{SCHOOL_WEBSOCKET_EVENTS}_total"
SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS = "koi_pond_school_websocket_event_lag_seconds"
SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS_BUCKET = f"{SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS}_bucket"
SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS_COUNT = f"{SCHOOL_WEBSOCKET_EVENT_LAG_SECONDS}_count"
SCHOOL_KOI = "koi_pond_school_koi"
SCHOOL_WORKER_RESTARTS = "koi_pond_school_worker_restarts"
SCHOOL_WORKER_RESTARTS_TOTAL = f"{SCHOOL_WORKER_RESTARTS}_total"
SCHOOL_WORKERS = "koi_pond_school_workers"
SCHOOL_SCHEDULE_LAG_SECONDS = "koi_pond_school_schedule_lag_seconds"
SCHOOL_SCHEDULE_LAG_SECONDS_BUCKET = f"{SCHOOL_SCHEDULE_LAG_SECONDS}_bucket"
SCHOOL_KEEPER_POLLS = "koi_pond_school_keeper_polls"
SCHOOL_KEEPER_POLLS_TOTAL = f"{SCHOOL_KEEPER_POLLS}_total"
SCHOOL_ACTIONS_SKIPPED = "koi_pond_school_actions_skipped"
SCHOOL_KOI_CRASHES = "koi_pond_school_koi_crashes"

# The bundled target's metrics (slacklike_target.metrics).
TARGET_REQUESTS = "koi_pond_target_requests"
TARGET_REQUESTS_TOTAL = f"{TARGET_REQUESTS}_total"
TARGET_REQUEST_DURATION_SECONDS = "koi_pond_target_request_duration_seconds"
TARGET_WEBSOCKET_CONNECTIONS = "koi_pond_target_websocket_connections"
TARGET_WEBSOCKET_EVENTS_SENT = "koi_pond_target_websocket_events_sent"
TARGET_WEBSOCKET_EVENTS_DROPPED = "koi_pond_target_websocket_events_dropped"
TARGET_WEBSOCKET_EVENTS_DROPPED_TOTAL = f"{TARGET_WEBSOCKET_EVENTS_DROPPED}_total"
TARGET_FAULTS_INJECTED = "koi_pond_target_faults_injected"
TARGET_HISTORY_REACTION_ENTRIES_VISITED = "koi_pond_target_history_reaction_entries_visited"

# Label names.
METHOD_LABEL = "method"
STATUS_LABEL = "status"
OUTCOME_LABEL = "outcome"
TEST_LABEL = "test"
TYPE_LABEL = "type"
KIND_LABEL = "kind"
BUCKET_BOUND_LABEL = "le"

# A School's call statuses: a closed set, so a misbehaving target cannot blow up label cardinality.
# Deploy SLIs count OK_STATUS as success and every other status as a failure.
OK_STATUS = "ok"
CALL_STATUSES = (OK_STATUS, "api_error", "http_429", "http_4xx", "http_5xx", "timeout", "connect_error", "bad_response")
FAILED_CALL_STATUSES = CALL_STATUSES[1:]
# The outcomes of a School's Keeper polls.
POLL_OK = "ok"
POLL_FAILED = "failed"
