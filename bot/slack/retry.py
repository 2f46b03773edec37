"""One Web API call, retried the way Slack asks: a 429 is waited out for its
``Retry-After`` however often it comes (the message arrives late, it is
never dropped); a server error or a broken connection is retried a bounded number of
times; a refusal (``ok: false``) is logged and given up on at once, except
refused blocks, which are resent as plain text so the words still arrive.

Our own loop rather than slack_sdk's ``RateLimitErrorRetryHandler``: that
handler gives up after a fixed count, and we must not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


def send(
    client: WebClient,
    method: str,
    args: dict[str, Any],
    *,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any] | None:
    """Call ``method`` until it succeeds; Slack's answer, or None if it never will."""
    failures = 0
    while True:
        try:
            response = client.api_call(method, json=args)
            return response.data if isinstance(response.data, dict) else {}
        except SlackApiError as exc:
            status, error = exc.response.status_code, exc.response.get("error")
            if status == 429:
                delay = retry_after(exc.response.headers)
                log.info("Slack rate-limited %s: retrying in %ss", method, delay)
                sleep(delay)
                continue
            if error == "invalid_blocks" and "blocks" in args:
                log.warning("Slack refused the blocks of %s: sending text only", method)
                args = {k: v for k, v in args.items() if k != "blocks"}
                continue
            if status < 500:
                log.error("Slack refused %s: %s", method, error)
                return None
            reason = f"HTTP {status}"
        except OSError as exc:
            reason = str(exc)
        failures += 1
        if failures >= attempts:
            log.error("giving up on Slack %s after %d attempts: %s", method, failures, reason)
            return None
        sleep(0.5 * 2 ** (failures - 1))


def retry_after(headers: Mapping[str, Any]) -> float:
    """Seconds Slack asked us to wait (1 if it did not say clearly)."""
    value = headers.get("Retry-After") or headers.get("retry-after") or 1
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 1.0
