"""Keystone authentication in front of the WSGI app (``auth_strategy = "keystone"``).

keystonemiddleware's ``auth_token`` validates each request's ``X-Auth-Token``
with Keystone, removes any identity header the client sent (``X-Project-Id``,
``X-Roles``, ...) and sets them from the token, so the app's usual reading of
``X-Project-Id`` gives the token's project and ``X-Roles`` its roles
(``v2.base.require_admin``). As Zaqar's ``SignedHeadersAuth``, a request
carrying ``URL-Signature`` skips Keystone: the app verifies the pre-signed
URL itself (``middleware.Guard``), and such a request has no roles. So does
the root path, the versions document.

The websocket API's ``authenticate`` action has no HTTP request to put
behind auth_token: ``TokenValidator`` runs auth_token over a made-up
request carrying only the token, as Zaqar's websocket transport does.

keystonemiddleware is imported only by ``protect`` and ``TokenValidator``,
so a noauth server never loads it (install it with ``pip install
'sqlqueue[keystone]'``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlqueue.config import Settings
from sqlqueue.errors import NotPermitted, StorageUnavailable, ValidationFailed
from sqlqueue.logs import ACCESS

access_logger = logging.getLogger("sqlqueue.access")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

STRATEGIES = ("noauth", "keystone")
GROUP = "keystone_authtoken"
"""keystonemiddleware's option group (its options are named as in ``[keystone_authtoken]``)."""
REACHED = "sqlqueue.reached_app"
"""Environ key set once a request got past auth_token to the app."""
ROLE_HEADERS = ("HTTP_X_ROLES", "HTTP_X_SERVICE_ROLES")
"""Client-sent role headers, dropped from pre-signed requests (which skip auth_token)."""
REQUIRED = ("keystone_auth_url", "keystone_username", "keystone_password")
TITLES = {401: "Unauthorized", 403: "Forbidden", 503: "Service unavailable"}
DESCRIPTIONS = {
    401: "The request you have made requires authentication.",
    503: "The Keystone service is temporarily unavailable.",
}
"""auth_token's messages, for its answers whose body is not its JSON (webob's HTML or text)."""


def check(settings: Settings) -> None:
    """Refuse an authentication set-up that cannot work, before serving.

    :raises ValidationFailed: an unknown ``auth_strategy``; with ``keystone``,
        a missing service-user setting or keystonemiddleware not installed.
    """
    if settings.auth_strategy not in STRATEGIES:
        raise ValidationFailed(
            f"auth_strategy must be one of {', '.join(STRATEGIES)}, not {settings.auth_strategy!r}"
        )
    if settings.auth_strategy != "keystone":
        return
    missing = [name for name in REQUIRED if not getattr(settings, name)]
    if missing:
        raise ValidationFailed(f"auth_strategy = keystone needs {', '.join(missing)}")
    if importlib.util.find_spec("keystonemiddleware") is None:
        raise ValidationFailed(
            "auth_strategy = keystone needs keystonemiddleware: pip install 'sqlqueue[keystone]'"
        )


def authtoken_options(settings: Settings) -> dict[str, Any]:
    """auth_token's options (``[keystone_authtoken]`` names) for ``settings``.

    The service user authenticates with keystoneauth's ``password`` plugin.
    """
    options: dict[str, Any] = {
        "auth_type": "password",
        "auth_url": settings.keystone_auth_url,
        "username": settings.keystone_username,
        "password": settings.keystone_password,
        "project_name": settings.keystone_project_name,
        "user_domain_name": settings.keystone_user_domain_name,
        "project_domain_name": settings.keystone_project_domain_name,
        "www_authenticate_uri": settings.keystone_www_authenticate_uri
        or settings.keystone_auth_url,
        "interface": settings.keystone_interface,
        "insecure": settings.keystone_insecure,
        "token_cache_time": settings.keystone_token_cache_time,
    }
    optional = {
        "region_name": settings.keystone_region_name,
        "cafile": settings.keystone_cafile,
        "memcached_servers": _split(settings.keystone_memcached_servers),
    }
    options.update({name: value for name, value in optional.items() if value})
    return options


def protect(app: WsgiApp, settings: Settings) -> WsgiApp:
    """``app`` behind Keystone as ``settings`` say; ``app`` itself under noauth.

    :raises ValidationFailed: as ``check``.
    """
    check(settings)
    if settings.auth_strategy != "keystone":
        return app
    from keystonemiddleware import auth_token

    conf = _oslo_config(authtoken_options(settings))
    checked = auth_token.AuthProtocol(_Marked(app), {"oslo_config_config": conf})
    return SignedOrToken(app, ZaqarErrors(checked))


class TokenRefused(NotPermitted):
    """Keystone did not accept the token (expired, revoked, malformed or missing)."""


class KeystoneUnavailable(StorageUnavailable):
    """Keystone could not be asked (down, or the service user cannot log in)."""


@dataclass(frozen=True)
class TokenIdentity:
    """Who a valid token speaks for, as auth_token reports it."""

    project: str | None
    """The token's project id (None for a token scoped to no project)."""
    roles: tuple[str, ...]
    expires: float | None
    """When the token expires, in seconds since the epoch (None when Keystone says nothing)."""


class TokenValidator:
    """Validate a bare token with keystonemiddleware's auth_token.

    For requests that are not HTTP requests (the websocket ``authenticate``
    action): auth_token is run over a made-up ``GET /`` carrying only
    ``X-Auth-Token``, with the same options (and token cache) as ``protect``.
    """

    def __init__(self, settings: Settings) -> None:
        from keystonemiddleware import auth_token

        conf = _oslo_config(authtoken_options(settings))
        self._checked = auth_token.AuthProtocol(_identify, {"oslo_config_config": conf})

    def validate(self, token: str) -> TokenIdentity:
        """The identity behind ``token``.

        :raises TokenRefused: Keystone refused the token (auth_token's 401).
        :raises KeystoneUnavailable: Keystone could not be asked (auth_token's 503).
        """
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/",
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "sqlqueue-websocket",
            "SERVER_PORT": "0",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "HTTP_X_AUTH_TOKEN": token,
        }
        answer: list[str] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status]
            return lambda data: None

        result = self._checked(environ, capture)
        getattr(result, "close", lambda: None)()
        identity = environ.get(IDENTITY)
        if isinstance(identity, TokenIdentity):
            return identity
        if answer and answer[0].startswith("401"):
            raise TokenRefused("Authentication failed.")
        raise KeystoneUnavailable(DESCRIPTIONS[503])


IDENTITY = "sqlqueue.token_identity"
"""Environ key where ``_identify`` leaves a validated token's ``TokenIdentity``."""


def _identify(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """The app behind auth_token for ``TokenValidator``: note who the token is."""
    roles = tuple(r.strip() for r in environ.get("HTTP_X_ROLES", "").split(",") if r.strip())
    environ[IDENTITY] = TokenIdentity(
        project=environ.get("HTTP_X_PROJECT_ID") or None,
        roles=roles,
        expires=_expiry(environ.get("keystone.token_info")),
    )
    start_response("204 No Content", [])
    return []


def _expiry(token_info: Any) -> float | None:
    """``expires_at`` (Identity v3) or ``access.token.expires`` (v2) as epoch seconds."""
    try:
        if "token" in token_info:
            text = token_info["token"]["expires_at"]
        else:
            text = token_info["access"]["token"]["expires"]
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


class SignedOrToken:
    """Send pre-signed requests straight to the app, the others through Keystone.

    The app verifies the signature (404 when it does not hold). As in Zaqar,
    the root path (the versions document) needs no token either. Role headers
    a client put on such a request are dropped: only auth_token sets them.
    """

    def __init__(self, app: WsgiApp, authenticated: WsgiApp) -> None:
        self._app = app
        self._authenticated = authenticated

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Route one request (PEP 3333)."""
        if environ.get("HTTP_URL_SIGNATURE") is None and environ.get("PATH_INFO") != "/":
            return self._authenticated(environ, start_response)
        for key in ROLE_HEADERS:
            environ.pop(key, None)
        return self._app(environ, start_response)


class ZaqarErrors:
    """Give auth_token's own refusals (401, 503) Zaqar's ``{"title", "description"}`` body.

    Answers of the app pass unchanged; its headers (``WWW-Authenticate``) are kept.
    """

    def __init__(self, checked: WsgiApp) -> None:
        self._checked = checked

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Run auth_token and the app; rewrite the body if the app was never reached."""
        answer: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers, exc_info]
            return lambda data: None  # auth_token (webob) never writes

        result = self._checked(environ, capture)
        if environ.get(REACHED):
            status, headers, exc_info = answer
            start_response(status, headers, exc_info)
            return result
        try:
            text = b"".join(result).decode("utf-8", "replace")
        finally:
            getattr(result, "close", lambda: None)()
        status, headers, _ = answer
        _log_refusal(environ, status)
        return _rewrite(status, headers, text, start_response)


def _log_refusal(environ: dict[str, Any], status: str) -> None:
    """An access line for a request the app never saw (the app logs the others)."""
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    remote = environ.get("REMOTE_ADDR") or "-"
    access_logger.info(
        '%s "%s %s" %s refused by Keystone auth_token',
        remote,
        method,
        path,
        status[:3],
        extra={
            ACCESS: {"method": method, "path": path, "status": int(status[:3]), "remote": remote}
        },
    )


def _rewrite(
    status: str, headers: list[tuple[str, str]], text: str, start_response: StartResponse
) -> list[bytes]:
    code = int(status[:3])
    title = TITLES.get(code, status[4:])
    body = json.dumps({"title": title, "description": _description(code, text)}).encode()
    kept = [(k, v) for k, v in headers if k.lower() not in {"content-type", "content-length"}]
    kept += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(status, kept)
    return [body]


def _description(code: int, text: str) -> str:
    """The message of auth_token's JSON error, else its usual message for ``code``."""
    try:
        return str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return DESCRIPTIONS.get(code, "The request was refused.")


class _Marked:
    """Mark the environ when a request reaches the app (past auth_token)."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        environ[REACHED] = True
        return self._app(environ, start_response)


def _oslo_config(options: Mapping[str, Any]) -> Any:
    """A private oslo.config object holding ``options`` in ``[keystone_authtoken]``.

    Private so that nothing is read from the command line or from
    /etc/*.conf, and the process-wide ``cfg.CONF`` stays untouched.
    """
    from keystoneauth1 import loading
    from keystonemiddleware import auth_token
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf(args=[], project="sqlqueue", default_config_files=[], default_config_dirs=[])
    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    conf.register_opts(loading.get_auth_plugin_conf_options("password"), group=GROUP)
    for name, value in options.items():
        conf.set_override(name, value, group=GROUP)
    return conf


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
