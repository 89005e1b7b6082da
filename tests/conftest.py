"""Shared test set-up: no screen, no network, no writes to the real user folders.

Runs before any test module is imported, so the environment variables below are in place before Qt
or torch load:

- ``QT_QPA_PLATFORM=offscreen``: app tests need no display;
- ``DIFFUSION_LAB_HOME`` and ``XDG_CONFIG_HOME`` point into a temporary folder, so checkpoints, logs
  and QSettings written by tests never touch the real user's files;
- the Hugging Face libraries (the ``diffusers`` oracle) are told they are offline;
- ``OMP_NUM_THREADS=1`` unless set: on the shared 2-core machine, two torch threads competing with
  other work measured several times slower than one for the small tensors the tests use.

Every test also runs with Internet sockets blocked (the autouse ``no_network`` fixture): a test that
tries to open a connection fails with a message saying so. Its ``attempts`` list is inspectable.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

_TEST_HOME = Path(tempfile.mkdtemp(prefix="diffusion-lab-tests-"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["DIFFUSION_LAB_HOME"] = str(_TEST_HOME / "user-data")
os.environ["XDG_CONFIG_HOME"] = str(_TEST_HOME / "config")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DIFFUSERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class NetworkBlocked(OSError):
    """Raised instead of opening an Internet socket during the tests."""


class NetworkGuard:
    """Replaces ``socket.socket``, ``socket.create_connection`` and ``socket.getaddrinfo`` so that any
    Internet connection attempt raises ``NetworkBlocked`` and is recorded in ``attempts``.
    Local (AF_UNIX) sockets stay allowed: multiprocessing and asyncio use them internally."""

    def __init__(self):
        self.attempts: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        guard = self
        real_socket = socket.socket

        class GuardedSocket(real_socket):
            def __init__(self, family=-1, type=-1, proto=-1, fileno=None):  # noqa: A002 - socket's own names
                if fileno is None and family in (-1, *NETWORK_FAMILIES):
                    guard._refuse(f"socket.socket(family={family})")
                super().__init__(family, type, proto, fileno)

        def create_connection(address, *args, **kwargs):
            guard._refuse(f"socket.create_connection({address!r})")

        def getaddrinfo(host, *args, **kwargs):
            guard._refuse(f"socket.getaddrinfo({host!r})")

        monkeypatch.setattr(socket, "socket", GuardedSocket)
        monkeypatch.setattr(socket, "create_connection", create_connection)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def _refuse(self, what: str):
        self.attempts.append(what)
        raise NetworkBlocked(f"Network access is not allowed in Diffusion Lab's tests (attempted {what}).")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    """Block Internet sockets for the duration of each test; the guard lists what was attempted."""
    guard = NetworkGuard()
    guard.install(monkeypatch)
    return guard


@pytest.fixture
def user_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty user-data folder for one test (``DIFFUSION_LAB_HOME`` points at it)."""
    home = tmp_path / "user-data"
    monkeypatch.setenv("DIFFUSION_LAB_HOME", str(home))
    return home


@pytest.fixture
def no_unexpected_dialogs(monkeypatch):
    """A modal dialog nobody answers would hang an offscreen test: fail instead (tests that expect one
    patch ``QMessageBox`` themselves, after this fixture). App test modules opt in with
    ``pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")``; core tests never import Qt."""
    from PySide6.QtWidgets import QMessageBox

    def fail(parent, title, text, *args):
        raise AssertionError(f"Unexpected dialog '{title}': {text}")

    for name in ("warning", "information", "question", "critical"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(fail))
