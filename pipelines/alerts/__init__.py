"""ShopLake's one alerts part: `Alert`, the dedup router, webhook delivery and the alert log.

Flows and jobs call `raise_alert(settings, ...)`; checks that raise several alerts at once build
`Alert`s and hand them to `AlertRouter.from_settings(settings).emit(...)`.
"""

from .log import read_alert_log
from .model import Alert, Delivery, Outcome, Severity
from .router import AlertRouter, raise_alert
from .webhook import WebhookSink

__all__ = ["Alert", "AlertRouter", "Delivery", "Outcome", "Severity", "WebhookSink", "raise_alert", "read_alert_log"]
