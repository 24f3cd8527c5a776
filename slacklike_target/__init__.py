"""The bundled Slack-like target koi swim against: Web API methods, websocket fan-out, token minting, faults.

Layout (each module one concern; only ``app``, ``realtime`` and ``server`` touch aiohttp):

- ``wire``: method names, error codes and argument parsing (the Slack Web API vocabulary);
- ``tokens``: stateless HMAC user tokens (``xoxp-<workspace>-<index>-<hmac>``);
- ``timestamps``: Slack-style ``ts`` strings, strictly increasing per channel;
- ``messages`` and ``state``: in-memory channels, messages, reactions and membership;
- ``faults``: fault injection specs and seeded decisions;
- ``realtime``: websocket sessions and non-blocking fan-out;
- ``metrics``: the target's own Prometheus registry;
- ``methods`` and ``admin``: the Web API methods and the admin endpoints;
- ``app`` and ``server``: aiohttp wiring and serving (on uvloop when available).
"""

from __future__ import annotations
