"""The text exposition of ``GET /metrics``: this process's metrics or every worker's.

With a multiprocess directory (``observe.multiprocess``) the counters of
every worker process of the server are read from their files and summed;
without one (tests, a single process) this process's own metrics are shown.
The storage gauges (``observe.gauges``) are added by the process answering
the scrape.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from sqlqueue.observe import multiprocess


class _ThisProcess(Collector):
    """The metrics of this process alone (the default registry)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


class Exposition:
    """Renders the metrics in the format a scraper asks for (``Accept``).

    ``extra``: collectors evaluated on every scrape (``StoreGauges``).
    """

    def __init__(self, extra: Iterable[Collector] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        path = multiprocess.directory()
        if path is not None:
            MultiProcessCollector(self.registry, path)  # type: ignore[no-untyped-call]
        else:
            self.registry.register(_ThisProcess())
        for collector in extra:
            self.registry.register(collector)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type): OpenMetrics when ``accept`` asks for it, else text 0.0.4."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def serve(self, host: str, port: int) -> str:
        """Answer scrapes on ``host:port`` from a daemon thread; the URL to scrape.

        prometheus-client's own small HTTP server (any path answers).

        :raises OSError: the port cannot be listened on.
        """
        start_http_server(port, addr=host, registry=self.registry)
        return f"http://{host}:{port}/metrics"
