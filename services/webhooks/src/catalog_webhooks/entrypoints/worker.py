"""The `catalog-webhooks` command: deliveries for every subscribed event, sent, retried and recorded."""

from catalog_webhooks.entrypoints.bootstrap import build
from catalog_webhooks.settings import WebhookSettings


def main() -> None:
    build(WebhookSettings()).run()
