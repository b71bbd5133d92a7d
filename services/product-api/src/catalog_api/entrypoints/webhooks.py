"""The `/admin/webhooks` endpoints: subscriptions (URL, event types, signing secret), their deliveries with every
attempt, redelivery and a test event. Admin keys only (see `access.py`); the work is the service layer's
(`service_layer.webhooks.WebhookAdmin`), which the console calls too."""

import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from catalog_api.entrypoints.cursors import decode_cursor, encode_cursor
from catalog_api.entrypoints.deps import Caller, DbSession, PageLimit, Settings
from catalog_api.entrypoints.problems import Problem
from catalog_api.service_layer.webhooks import MAX_URL_LENGTH, WebhookAdmin, WebhookUrlRefused
from catalog_core.domain.webhooks import DeliveryNotFound, SubscriptionNotFound, WebhookEventType
from catalog_http.openapi import error_responses

log = logging.getLogger("catalog_api.webhooks")
T = TypeVar("T")

router = APIRouter(prefix="/admin/webhooks", tags=["webhooks"])


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=MAX_URL_LENGTH, description="http(s) URL the outbound policy allows.")
    event_types: list[WebhookEventType] = Field(min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=500)


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    event_types: list[WebhookEventType] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = Field(default=None, description="false pauses deliveries; they wait, and go on resume.")


def get_webhook_admin(session: DbSession, settings: Settings) -> WebhookAdmin:
    return WebhookAdmin(session, settings.outbound_policy())


Webhooks = Annotated[WebhookAdmin, Depends(get_webhook_admin)]


@router.post("", status_code=201, responses=error_responses(401, 403, 413, 422))
def create_subscription(body: SubscriptionIn, webhooks: Webhooks, caller: Caller) -> JSONResponse:
    """Subscribe a URL to event types. The answer carries the signing `secret`: it is shown this once."""
    subscription, secret = _run(
        webhooks,
        lambda: webhooks.create(
            url=body.url, event_types=body.event_types, description=body.description, created_by=caller.id
        ),
    )
    log.info("webhook subscribed", extra={"subscription_id": str(subscription.id), "principal": caller.id})
    return JSONResponse(
        subscription.view() | {"secret": secret}, 201, {"Location": f"/admin/webhooks/{subscription.id}"}
    )


@router.get("", responses=error_responses(401, 403, 422, {400: "Invalid cursor"}))
def list_subscriptions(webhooks: Webhooks, limit: PageLimit, cursor: str | None = None) -> dict[str, Any]:
    """Every subscription, oldest first (never their secrets); follow `next_cursor` until it is null."""
    page = webhooks.subscriptions(after=decode_cursor(cursor, uuid.UUID), limit=limit + 1)
    items = page[:limit]
    return {
        "items": [s.view() for s in items],
        "next_cursor": encode_cursor(str(items[-1].id)) if len(page) > limit else None,
    }


@router.get("/{subscription_id}", responses=error_responses(401, 403, 422, {404: "Unknown subscription"}))
def get_subscription(subscription_id: uuid.UUID, webhooks: Webhooks) -> dict[str, Any]:
    return _found(lambda: webhooks.subscription(subscription_id)).view()


@router.patch("/{subscription_id}", responses=error_responses(401, 403, 413, 422, {404: "Unknown subscription"}))
def update_subscription(subscription_id: uuid.UUID, body: SubscriptionPatch, webhooks: Webhooks) -> dict[str, Any]:
    """Change the URL, the event types, the description, or pause (`active: false`) and resume."""
    fields = body.model_fields_set
    subscription = _run(
        webhooks,
        lambda: webhooks.update(
            subscription_id,
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            active=body.active,
            clear_description="description" in fields and body.description is None,
        ),
    )
    return subscription.view()


@router.delete(
    "/{subscription_id}", status_code=204, responses=error_responses(401, 403, 413, 422, {404: "Unknown subscription"})
)
def delete_subscription(subscription_id: uuid.UUID, webhooks: Webhooks) -> Response:
    """The subscription and its delivery history; nothing more is sent to it."""
    _run(webhooks, lambda: webhooks.delete(subscription_id))
    log.info("webhook unsubscribed", extra={"subscription_id": str(subscription_id)})
    return Response(status_code=204)


@router.post(
    "/{subscription_id}/rotate-secret", responses=error_responses(401, 403, 413, 422, {404: "Unknown subscription"})
)
def rotate_secret(subscription_id: uuid.UUID, webhooks: Webhooks) -> dict[str, Any]:
    """A new signing secret, shown this once; attempts from now on are signed with it."""
    subscription, secret = _run(webhooks, lambda: webhooks.rotate_secret(subscription_id))
    log.info("webhook secret rotated", extra={"subscription_id": str(subscription_id)})
    return subscription.view() | {"secret": secret}


@router.post(
    "/{subscription_id}/test",
    status_code=202,
    responses=error_responses(401, 403, 413, 422, {404: "Unknown subscription"}),
)
def send_test_event(subscription_id: uuid.UUID, webhooks: Webhooks) -> dict[str, Any]:
    """Queue a `webhook.test` delivery to this subscription; follow it among its deliveries."""
    return _run(webhooks, lambda: webhooks.send_test(subscription_id)).view()


@router.get(
    "/{subscription_id}/deliveries",
    responses=error_responses(401, 403, 422, {400: "Invalid cursor", 404: "Unknown subscription"}),
)
def list_deliveries(
    subscription_id: uuid.UUID, webhooks: Webhooks, limit: PageLimit, cursor: str | None = None
) -> dict[str, Any]:
    """Deliveries newest first, each with state and every attempt (time, HTTP status or error, response time)."""
    before = decode_cursor(cursor, uuid.UUID)
    page = _found(lambda: webhooks.deliveries(subscription_id, before=before, limit=limit + 1))
    items = page[:limit]
    return {
        "items": [d.view() for d in items],
        "next_cursor": encode_cursor(str(items[-1].id)) if len(page) > limit else None,
    }


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    responses=error_responses(401, 403, 413, 422, {404: "Unknown delivery"}),
)
def redeliver(delivery_id: uuid.UUID, webhooks: Webhooks) -> dict[str, Any]:
    """Send a delivery again now, with a fresh retry schedule: the same body and `webhook-id`."""
    delivery = _run(webhooks, lambda: webhooks.redeliver(delivery_id))
    log.info("webhook redelivery requested", extra={"delivery_id": str(delivery_id)})
    return delivery.view()


def _run(webhooks: WebhookAdmin, command: Callable[[], T]) -> T:
    """`command` in one transaction, its refusals as problems."""
    with webhooks.session.begin():
        return _found(command)


def _found(command: Callable[[], T]) -> T:
    try:
        return command()
    except SubscriptionNotFound as exc:
        raise Problem(404, "not-found", "Webhook subscription not found", str(exc)) from exc
    except DeliveryNotFound as exc:
        raise Problem(404, "not-found", "Webhook delivery not found", str(exc)) from exc
    except WebhookUrlRefused as exc:
        raise Problem(
            422, "validation", "Invalid request", f"url: {exc}", [{"field": "url", "message": str(exc), "code": "url"}]
        ) from exc
