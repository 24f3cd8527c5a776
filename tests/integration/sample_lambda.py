"""A tiny Lambda handler for the local HTTP adapter's tests: it answers with the event it was given.

Query parameters steer it: ``sleep=S`` waits S seconds first, ``fail`` raises, ``exit`` kills its process.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    params = event.get("queryStringParameters") or {}
    if "sleep" in params:
        time.sleep(float(params["sleep"]))
    if "fail" in params:
        raise RuntimeError("asked to fail")
    if "exit" in params:
        os._exit(3)
    body = {"event": event, "pid": os.getpid(), "function": context.function_name}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
