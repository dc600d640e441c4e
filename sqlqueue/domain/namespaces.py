"""Queues and topics: two namespaces of one storage contract.

A topic (``/v2/topics/{name}``, docs/topics.md) is stored exactly like a
queue (metadata, messages, subscriptions, notification outbox, pool
placement) under a *key* that no queue name can be: the topic's name behind
``~``. Queue names are ``[a-zA-Z0-9_.-]`` (api-v2.md 1.3), every one of
them sorts below ``~`` byte-wise, so the two namespaces are two disjoint key
ranges: queues ``[ "", "~" )``, topics ``[ "~", "\\x7f" )``. Topic X and
queue X are therefore two rows that nothing confuses (listing, deleting,
purging, subscribing, placing), which Zaqar 23 does not manage (topics.md
section 5). Keys are at most 65 characters (``KEY_LENGTH``).

The storage sees keys only; the transport turns names into keys (``key``)
and keys back into names and paths (``name``, ``path``), and so does the
notifier for what it sends.
"""

from __future__ import annotations

from dataclasses import dataclass

KEY_LENGTH = 65
"""Longest stored key: a 64-character name behind a one-character mark."""


@dataclass(frozen=True)
class Namespace:
    """One namespace: its URL collection and the range of its keys."""

    collection: str
    """The URL segment: ``queues`` or ``topics``."""
    mark: str
    """The prefix of every key of the namespace (``""`` for queues)."""
    end: str
    """Every key of the namespace sorts below this (byte-wise)."""

    def key(self, name: str) -> str:
        """The stored key of resource ``name``."""
        return self.mark + name

    def name(self, key: str) -> str:
        """The resource name of a key of this namespace."""
        return key[len(self.mark) :]

    def owns(self, key: str) -> bool:
        """Whether ``key`` is in this namespace."""
        return self.mark <= key < self.end

    @property
    def before_first(self) -> str | None:
        """An exclusive lower bound of the keys (None: from the start)."""
        return self.mark or None


QUEUES = Namespace("queues", "", "~")
TOPICS = Namespace("topics", "~", "\x7f")


def of(key: str) -> Namespace:
    """The namespace a stored key belongs to."""
    return TOPICS if TOPICS.owns(key) else QUEUES


def name(key: str) -> str:
    """The resource name of a stored key (a queue's key is its name)."""
    return of(key).name(key)


def path(key: str) -> str:
    """The v2 path of the queue or topic stored under ``key``."""
    space = of(key)
    return f"/v2/{space.collection}/{space.name(key)}"


def label(key: str) -> str:
    """How messages name the resource stored under ``key``: ``Queue q`` or ``Topic t``."""
    space = of(key)
    return f"{space.collection[:-1].capitalize()} {space.name(key)}"
