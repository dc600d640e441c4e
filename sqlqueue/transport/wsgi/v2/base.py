"""What every v2 resource shares: its injected dependencies."""

from __future__ import annotations

from sqlqueue.transport.wsgi.context import Deps


class Resource:
    """A resource holding the driver, limits and validator it was built with."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._driver = deps.driver
        self._limits = deps.limits
        self._validate = deps.validator
