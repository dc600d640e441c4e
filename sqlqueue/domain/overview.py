"""What the admin dashboard shows: a snapshot of queues, databases and flavors."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlqueue.domain.models import JSON, FlavorView, QueueStats


@dataclass(frozen=True)
class QueueSnapshot:
    """One queue's counts at ``Overview.taken_at``; ``stats`` and ``metadata``
    are None while the queue's database does not answer."""

    project: str
    name: str
    stats: QueueStats | None
    metadata: dict[str, JSON] | None = field(default_factory=dict)

    @property
    def claimed_share(self) -> float:
        """Claimed messages over live ones, 0.0 to 1.0 (0.0 when empty or unknown)."""
        if self.stats is None or not self.stats.total:
            return 0.0
        return self.stats.claimed / self.stats.total

    @property
    def oldest_age(self) -> int | None:
        """Seconds since the oldest live message was posted (None when empty or unknown)."""
        return self.stats.oldest.age if self.stats and self.stats.oldest else None


@dataclass(frozen=True)
class DatabaseSnapshot:
    """The default database (``pool`` None) or one registered pool.

    ``queues`` and ``messages`` are None when the database does not answer.
    """

    pool: str | None
    reachable: bool
    weight: int | None = None
    flavor: str | None = None
    queues: int | None = None
    messages: QueueStats | None = None


@dataclass(frozen=True)
class Overview:
    """Everything the dashboard's front page shows.

    ``queues`` holds at most the first ``limit`` queues by project and name
    (``truncated`` says more exist); ``projects`` counts every project's
    queues over the databases that answered. Topics (docs/topics.md) are
    listed apart, the same way.
    """

    taken_at: float
    """Seconds since the epoch."""
    projects: dict[str, int]
    queues: list[QueueSnapshot]
    truncated: bool
    databases: list[DatabaseSnapshot]
    flavors: list[FlavorView]
    topics: list[QueueSnapshot] = field(default_factory=list)
    """At most ``limit`` topics by project and name (``QueueSnapshot.name`` is the topic's name)."""
    topics_truncated: bool = False
    project_topics: dict[str, int] = field(default_factory=dict)
    """Topics per project, over the databases that answered."""

    @property
    def project_rows(self) -> list[tuple[str, int, int]]:
        """``(project, queues, topics)`` for every project with either, by name."""
        names = sorted(set(self.projects) | set(self.project_topics))
        return [(n, self.projects.get(n, 0), self.project_topics.get(n, 0)) for n in names]
