"""Observability: Prometheus metric definitions (``metrics``), the scrape-time
gauges read from storage (``gauges``), exposition (``exposition``) and the
multiprocess directory of ``sqlqueue serve`` (``multiprocess``).

``metrics`` is a leaf any layer may import (it imports only
``prometheus_client``); the rest sees storage and the control plane through
their interfaces only (import-linter contracts in pyproject.toml).
"""
