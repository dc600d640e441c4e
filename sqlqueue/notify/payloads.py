"""What a delivery sends: Zaqar's JSON bodies, headers and mails, plus signatures.

Pure functions of a ``Delivery`` (no I/O). Zaqar's wire format is kept
exactly; sqlqueue adds Standard-Webhooks-style headers: ``webhook-id`` (the
idempotency key: subscription id and message id, stable across retries) and,
when the subscription's options carry a ``secret``, ``webhook-timestamp`` and
``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 over
``"<id>.<timestamp>.<body>"`` keyed with the secret's UTF-8 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlqueue.domain import namespaces, signing
from sqlqueue.domain.models import Delivery, Subscription

TOKEN = '"$zaqar_message$"'
"""Zaqar's post_data placeholder, quotes included."""

SUBSCRIBE_MAIL = {
    "subject": "Zaqar Notification - Subscription Confirmation",
    "body": (
        "You have chosen to subscribe to the queue: {0}. This queue belongs to "
        "project: {1}. To confirm this subscription, click or visit this link below: {2}"
    ),
}
UNSUBSCRIBE_MAIL = {
    "subject": "Zaqar Notification - Unsubscribe Confirmation",
    "body": (
        "You have unsubscribed successfully to the queue: {0}. This queue belongs to "
        "project: {1}. To resubscribe this subscription, click or visit this link below: {2}"
    ),
}


class Unsendable(ValueError):
    """The delivery can never be sent as configured (a final failure)."""


@dataclass(frozen=True)
class Signer:
    """What confirmation notices need: the signed-URL secret and the link bases."""

    secret: str
    default_subscription_ttl: int = 3600
    public_url: str = ""
    """Base of the absolute ``WSGISubscribeURL`` (omitted when empty)."""
    confirmation_url: str = ""
    """Zaqar's ``external_confirmation_url``: the page confirmation mails link to."""


@dataclass(frozen=True)
class Request:
    """One HTTP POST."""

    url: str
    body: bytes
    headers: dict[str, str]


def message(delivery: Delivery, signer: Signer) -> dict[str, Any]:
    """The JSON document Zaqar sends for ``delivery`` (before post_data templating).

    :raises Unsendable: a confirmation notice without a signing secret.
    """
    if delivery.kind == "notification":
        return {
            "ttl": delivery.ttl,
            "body": delivery.body,
            "Message_Type": "Notification",
            "queue_name": namespaces.name(delivery.queue),
        }
    return _confirmation(delivery, signer)


def confirm_path(delivery: Delivery) -> str:
    """The path a subscriber PUTs to confirm or unconfirm (a queue's or a topic's)."""
    source = namespaces.path(delivery.queue)
    return f"{source}/subscriptions/{delivery.subscription_id}/confirm"


def confirm_expires(delivery: Delivery, signer: Signer) -> str:
    """URL-Expires: creation + the subscription's ttl (unconfirm: + the default ttl)."""
    ttl = delivery.ttl if delivery.kind == "confirm" else signer.default_subscription_ttl
    return signing.expires_at(delivery.created + ttl)


def _confirmation(delivery: Delivery, signer: Signer) -> dict[str, Any]:
    if not signer.secret:
        raise Unsendable("no signed_url_secret is configured: confirmation not sent")
    path = confirm_path(delivery)
    expires = confirm_expires(delivery, signer)
    source = namespaces.name(delivery.queue)
    noun = namespaces.of(delivery.queue).collection[:-1]  # "queue" or "topic"

    found: dict[str, Any] = {}
    if signer.public_url:
        found["WSGISubscribeURL"] = signer.public_url.rstrip("/") + path
    if delivery.kind == "confirm":
        text = f"You have chosen to subscribe to the {noun}: {source}"
        kind = "SubscriptionConfirmation"
    else:
        text = (
            f"You have unsubscribed successfully to the {noun}: {source}, "
            "you can resubscribe it by using confirmed=True."
        )
        kind = "UnsubscribeConfirmation"
    found.update(
        {
            "Message_Type": kind,
            "Message": text,
            "URL-Signature": signing.signature(
                signer.secret, [path], ["PUT"], delivery.project, expires
            ),
            "URL-Methods": "PUT",
            "URL-Paths": path,
            "X-Project-ID": delivery.project,
            "URL-Expires": expires,
            "SubscribeBody": {"confirmed": True},
            "UnsubscribeBody": {"confirmed": False},
            "queue_name": source,
        }
    )
    return found


def idempotency_key(delivery: Delivery) -> str:
    """Stable across retries: subscription id + message id (notice: + its row id)."""
    if delivery.message_id is not None:
        return f"{delivery.subscription_id}.{delivery.message_id}"
    return f"{delivery.subscription_id}.{delivery.kind}.{delivery.id}"


def webhook(delivery: Delivery, sub: Subscription, signer: Signer, now: float) -> Request:
    """The POST of a webhook (``trust+`` stripped: no Keystone trust is used).

    :raises Unsendable: ``post_data`` is not a string or ``post_headers`` not an object.
    """
    options = sub.options
    text = json.dumps(message(delivery, signer))
    template = options.get("post_data")
    if template is not None:
        if not isinstance(template, str):
            raise Unsendable("options.post_data must be a string")
        text = template.replace(TOKEN, text)
    headers = {"Content-Type": "application/json"}
    extra = options.get("post_headers")
    if extra is not None:
        if not isinstance(extra, dict):
            raise Unsendable("options.post_headers must be an object")
        headers.update({str(k): str(v) for k, v in extra.items()})
    body = text.encode()
    key = idempotency_key(delivery)
    headers["webhook-id"] = key
    secret = options.get("secret")
    if isinstance(secret, str) and secret:
        stamp = str(int(now))
        headers["webhook-timestamp"] = stamp
        headers["webhook-signature"] = "v1," + sign(secret, key, stamp, body)
    url = sub.subscriber.removeprefix("trust+")
    return Request(url, body, headers)


def sign(secret: str, key: str, stamp: str, body: bytes) -> str:
    """Base64 HMAC-SHA256 of ``key.stamp.body`` with the secret's UTF-8 bytes."""
    signed = key.encode() + b"." + stamp.encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def mail(delivery: Delivery, sub: Subscription, signer: Signer, sender: str) -> EmailMessage:
    """The mail of a ``mailto:`` subscriber.

    Notifications: To = the address, From = ``options.from`` (else ``sender``),
    Subject = ``?subject=`` of the URI, else ``options.subject``, else empty;
    the body is the notification's JSON. Confirmations use Zaqar's templates
    with a link to ``confirmation_url``.

    :raises Unsendable: a confirmation without ``confirmation_url``.
    """
    parts = urlsplit(sub.subscriber)
    query = parse_qs(parts.query)
    options = sub.options
    out = EmailMessage()
    out["To"] = parts.path
    out["From"] = str(options.get("from") or sender)
    if delivery.kind == "notification":
        subject = (query.get("subject") or [str(options.get("subject") or "")])[0]
        out["Subject"] = subject
        _text(out, json.dumps(message(delivery, signer)))
        return out
    if not signer.confirmation_url:
        raise Unsendable("no notify_confirmation_url is configured: confirmation mail not sent")
    template = SUBSCRIBE_MAIL if delivery.kind == "confirm" else UNSUBSCRIBE_MAIL
    out["Subject"] = template["subject"]
    _text(
        out,
        template["body"].format(
            namespaces.name(delivery.queue), delivery.project, confirm_link(delivery, signer)
        ),
    )
    return out


def _text(mail: EmailMessage, text: str) -> None:
    """A text/plain body: 7bit when it fits (as Zaqar's MIMEText), else encoded."""
    if text.isascii() and all(len(line) <= 900 for line in text.splitlines()):
        mail.set_content(text, cte="7bit")
    else:
        mail.set_content(text)


def confirm_link(delivery: Delivery, signer: Signer) -> str:
    """Zaqar's confirmation-mail link (values not URL-encoded, as Zaqar does)."""
    doc = _confirmation(delivery, signer)
    url = signer.public_url.rstrip("/") + doc["URL-Paths"] if signer.public_url else ""
    return (
        f"{signer.confirmation_url}?Signature={doc['URL-Signature']}&Methods=PUT"
        f"&Paths={doc['URL-Paths']}&Project={delivery.project}&Expires={doc['URL-Expires']}"
        f"&Url={url}&Queue={namespaces.name(delivery.queue)}"
    )
