"""Delivery to a Slack-compatible incoming webhook: httpx for the POST, tenacity for the retries.

Server-side trouble (connection errors, timeouts, HTTP 5xx and 429) is retried with exponential
backoff; any other 4xx means our URL or payload is wrong, so it is not. `send` never raises:
alerts must not fail the run that raises them.
"""

from __future__ import annotations

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .model import Alert


class _ServerSide(Exception):
    """An HTTP answer worth retrying (5xx, 429)."""


class _Refused(Exception):
    """An HTTP answer that retrying will not change (4xx other than 429)."""


class WebhookSink:
    """POST alerts to one webhook URL; `attempts` tries, waits of `backoff_s`, 2x, 4x, ... between them."""

    def __init__(self, url: str, *, attempts: int = 3, backoff_s: float = 0.5, timeout_s: float = 5.0) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    def _post(self, client: httpx.Client, alert: Alert) -> None:
        response = client.post(self.url, json=alert.slack_payload())
        if response.is_success:
            return
        error = f"HTTP {response.status_code}"
        if response.status_code == 429 or response.status_code >= 500:
            raise _ServerSide(error)
        raise _Refused(error)

    def send(self, alert: Alert) -> tuple[bool, int, str | None]:
        """(delivered, attempts made, last error)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_s, exp_base=2, max=60),
            retry=retry_if_exception_type((_ServerSide, httpx.TransportError)),
            reraise=True,
        )
        attempts = 0
        try:
            with httpx.Client(timeout=self.timeout_s) as client:
                for attempt in retrying:
                    with attempt:
                        attempts = attempt.retry_state.attempt_number
                        self._post(client, alert)
        except (_ServerSide, _Refused, httpx.HTTPError) as exc:
            return False, attempts, str(exc) or type(exc).__name__
        return True, attempts, None
