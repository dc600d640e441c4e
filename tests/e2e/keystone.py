"""A real Keystone for the tests: its own virtualenv, SQLite, fernet tokens, gunicorn.

Keystone is installed once (from PyPI, pinned below) into a virtualenv under
the user's cache directory (``$XDG_CACHE_HOME/sqlqueue/keystone-venv``, or
``SQLQUEUE_TEST_KEYSTONE_VENV``) and reused while the pins stay the same.
Each test session then gets a fresh Keystone: a keystone.conf and SQLite
database in a temporary directory, ``keystone-manage db_sync``,
``fernet_setup``, ``credential_setup`` and ``bootstrap`` (an ``admin`` user
with the admin role on project ``admin``), served by gunicorn on loopback.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from tests import databases
from tests.e2e.conftest import free_port, stop

PINS = ("keystone==30.0.0", "gunicorn==27.0.1")
"""What the Keystone virtualenv holds; changing a pin reinstalls it."""
INSTALL_TIMEOUT = 600
START_TIMEOUT = 60.0
ADMIN_PASSWORD = "keystone-admin-secret"
DOMAIN = {"id": "default"}

CONFIG = """\
[DEFAULT]
log_file = {dir}/keystone.log
[database]
connection = sqlite:///{dir}/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = {dir}/fernet-keys
[fernet_receipts]
key_repository = {dir}/fernet-keys
[credential]
key_repository = {dir}/credential-keys
"""
GUNICORN = """\
bind = "127.0.0.1:{port}"
workers = 2
threads = 2
worker_class = "gthread"
wsgi_app = "keystone.wsgi.api:application"
control_socket_disable = True
graceful_timeout = 3
errorlog = "{dir}/gunicorn.log"
"""
# gunicorn takes its settings from ./gunicorn.conf.py: keystone's app parses the
# process's command line (oslo.config) and would choke on gunicorn's arguments.


def venv_dir() -> Path:
    """Where the Keystone virtualenv lives (kept across test runs)."""
    given = os.environ.get("SQLQUEUE_TEST_KEYSTONE_VENV")
    if given:
        return Path(given)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sqlqueue" / "keystone-venv"


def ensure_venv() -> Path:
    """The Keystone virtualenv, installed first if missing or out of date.

    Concurrent test runs wait for one another's install (a file lock).
    Without a network locally it is a skip, in CI a failure.
    """
    venv = venv_dir()
    stamp = venv / "sqlqueue-pins.txt"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "keystone-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == "\n".join(PINS):
            return venv
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", *PINS],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode:
            databases.unavailable(f"cannot install {' '.join(PINS)}: {done.stderr[-2000:]}")
        stamp.write_text("\n".join(PINS))
    return venv


@dataclass
class Identity:
    """A Keystone user and the project its tokens are scoped to."""

    name: str
    password: str
    project_name: str
    project_id: str
    user_id: str


class Keystone:
    """A running Keystone and an admin session on it."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], home: Path) -> None:
        self.url = url
        """The identity API, e.g. http://127.0.0.1:PORT/v3."""
        self.process = process
        self.home = home
        self.admin = Identity("admin", ADMIN_PASSWORD, "admin", "", "")
        self._admin_token = self.token(self.admin)

    def token(self, who: Identity, *, system: bool = False) -> str:
        """A fresh token for ``who``, scoped to its project (or to the system)."""
        body = _password_auth(who)
        if system:
            body["auth"]["scope"] = {"system": {"all": True}}
        answer = requests.post(f"{self.url}/auth/tokens", json=body, timeout=30)
        answer.raise_for_status()
        return answer.headers["X-Subject-Token"]

    def short_token(self, who: Identity, seconds: float) -> tuple[str, float]:
        """A token of ``who`` that expires in about ``seconds``, and its expiry (epoch s).

        Keystone caps the expiry of a token issued for an application
        credential at the credential's own: ``who`` makes one that expires
        in ``seconds`` and logs in with it.
        """
        when = datetime.now(UTC) + timedelta(seconds=seconds)
        expires_at = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        credential = {"name": f"short-{time.monotonic_ns()}", "expires_at": expires_at}
        made = requests.post(
            f"{self.url}/users/{who.user_id}/application_credentials",
            json={"application_credential": credential},
            headers={"X-Auth-Token": self.token(who)},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        secret = made.json()["application_credential"]
        method = {"id": secret["id"], "secret": secret["secret"]}
        identity = {"methods": ["application_credential"], "application_credential": method}
        answer = requests.post(
            f"{self.url}/auth/tokens", json={"auth": {"identity": identity}}, timeout=30
        )
        answer.raise_for_status()
        expires = answer.json()["token"]["expires_at"]
        return answer.headers["X-Subject-Token"], datetime.fromisoformat(expires).timestamp()

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, subject: str = ""
    ) -> Any:
        """An identity API call as the admin; its JSON answer (None when empty).

        ``subject``: the token a ``/auth/tokens`` call is about.
        """
        headers = {"X-Auth-Token": self._admin_token}
        if subject:
            headers["X-Subject-Token"] = subject
        answer = requests.request(method, self.url + path, json=body, headers=headers, timeout=30)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def role_id(self, name: str) -> str:
        """The id of role ``name``, created if Keystone's bootstrap did not."""
        found = self.call("GET", f"/roles?name={name}")["roles"]
        if found:
            return str(found[0]["id"])
        return str(self.call("POST", "/roles", {"role": {"name": name}})["role"]["id"])

    def project(self, name: str) -> str:
        """A new project's id."""
        body = {"project": {"name": name, "domain_id": DOMAIN["id"]}}
        return str(self.call("POST", "/projects", body)["project"]["id"])

    def user(self, name: str, project: str, role: str) -> Identity:
        """A new user with ``role`` on a new project ``project``."""
        project_id = self.project(project)
        password = f"{name}-secret"
        body = {"user": {"name": name, "password": password, "domain_id": DOMAIN["id"]}}
        user_id = str(self.call("POST", "/users", body)["user"]["id"])
        self.call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{self.role_id(role)}")
        return Identity(name, password, project, project_id, user_id)

    def register_endpoint(self, service_type: str, url: str, *, region: str) -> None:
        """Publish ``url`` as the public endpoint of ``service_type`` in a new ``region``."""
        self.call("POST", "/regions", {"region": {"id": region}})
        found = self.call("GET", f"/services?type={service_type}")["services"]
        if found:
            service_id = found[0]["id"]
        else:
            body = {"service": {"type": service_type, "name": service_type}}
            service_id = self.call("POST", "/services", body)["service"]["id"]
        endpoint = {"service_id": service_id, "interface": "public", "url": url}
        self.call("POST", "/endpoints", {"endpoint": {**endpoint, "region_id": region}})

    def log(self) -> str:
        """What Keystone and gunicorn logged."""
        parts = [p.read_text(errors="replace") for p in sorted(self.home.glob("*.log"))]
        return "\n".join(parts)[-6000:]


def _password_auth(who: Identity) -> dict[str, Any]:
    user = {"name": who.name, "domain": DOMAIN, "password": who.password}
    return {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"name": who.project_name, "domain": DOMAIN}},
        }
    }


def _manage(venv: Path, home: Path, *commands: list[str]) -> None:
    """Run ``keystone-manage`` commands on this Keystone's configuration, all at once."""
    manage = [str(venv / "bin" / "keystone-manage"), "--config-file", str(home / "keystone.conf")]
    running = [
        (
            args[0],
            subprocess.Popen([*manage, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT),
        )
        for args in commands
    ]
    for name, process in running:
        output = process.communicate()[0].decode(errors="replace")
        if process.returncode:
            raise RuntimeError(f"keystone-manage {name} failed:\n{output[-3000:]}")


def bootstrap(venv: Path, home: Path, url: str) -> None:
    """Create the database, the key repositories and the admin user, project and roles.

    The database and the two key repositories are independent: they are made
    side by side (each keystone-manage spends seconds importing Keystone).
    """
    owner = [
        "--keystone-user",
        pwd.getpwuid(os.getuid()).pw_name,
        "--keystone-group",
        grp.getgrgid(os.getgid()).gr_name,
    ]
    (home / "keystone.conf").write_text(CONFIG.format(dir=home))
    _manage(venv, home, ["db_sync"], ["fernet_setup", *owner], ["credential_setup", *owner])
    endpoints = [f"--bootstrap-{kind}-url={url}" for kind in ("admin", "internal", "public")]
    admin = [f"--bootstrap-password={ADMIN_PASSWORD}", "--bootstrap-region-id=RegionOne"]
    _manage(venv, home, ["bootstrap", *admin, *endpoints])


@contextmanager
def running_keystone(home: Path) -> Iterator[Keystone]:
    """A bootstrapped Keystone served by gunicorn on a free loopback port."""
    venv = ensure_venv()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v3"
    bootstrap(venv, home, url)
    (home / "gunicorn.conf.py").write_text(GUNICORN.format(port=port, dir=home))
    env = {**os.environ, "OS_KEYSTONE_CONFIG_FILES": str(home / "keystone.conf")}
    with open(home / "gunicorn.out.log", "wb") as out:
        process = subprocess.Popen(
            [str(venv / "bin" / "gunicorn")], cwd=home, env=env, stdout=out, stderr=out
        )
    try:
        _wait(url, process, home)
        yield Keystone(url, process, home)
    finally:
        stop(process)


def _wait(url: str, process: subprocess.Popen[bytes], home: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(url, timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    logs = "\n".join(p.read_text(errors="replace") for p in home.glob("*.log"))
    raise RuntimeError(f"Keystone did not start at {url}:\n{logs[-4000:]}")
