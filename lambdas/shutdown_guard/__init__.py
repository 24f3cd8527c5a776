"""The shutdown guard Lambda: evaluates guard queries against Prometheus on a schedule."""
