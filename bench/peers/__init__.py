"""Peer load-test tools (k6, Locust) given the same user as a koi, generated from one behavior file."""
