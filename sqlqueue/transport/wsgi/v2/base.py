"""What every v2 resource shares: its injected dependencies, and the admin check."""

from __future__ import annotations

import falcon

from sqlqueue.config import Settings
from sqlqueue.control.base import ControlPlaneService
from sqlqueue.transport.wsgi.context import Deps

ADMIN_ROLE = "admin"


class Resource:
    """A resource holding the store, limits and validator it was built with."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._store = deps.store
        self._limits = deps.limits
        self._validate = deps.validator


def require_admin(req: falcon.Request, settings: Settings) -> None:
    """Refuse (403) a caller without the admin role (Zaqar's default policy: ``role:admin``).

    Under ``auth_strategy = "keystone"`` the roles are the token's (auth_token
    replaces any ``X-Roles`` the client sent). Under noauth nobody is
    authenticated, and clients such as python-zaqarclient send no
    ``X-Roles``: with ``noauth_admin`` (the default) every caller of the
    admin app is an admin; without it the caller must send ``X-Roles: admin``.
    """
    if settings.noauth_admin and settings.auth_strategy != "keystone":
        return
    roles = {role.strip().lower() for role in (req.get_header("X-Roles") or "").split(",")}
    if ADMIN_ROLE not in roles:
        raise falcon.HTTPForbidden(
            title="Forbidden", description="This operation needs the admin role."
        )


class AdminResource(Resource):
    """A resource of the control plane (pools, flavors, catalogue)."""

    def __init__(self, deps: Deps, admin: ControlPlaneService) -> None:
        super().__init__(deps)
        self._admin = admin

    def _authorize(self, req: falcon.Request) -> None:
        require_admin(req, self._deps.settings)
