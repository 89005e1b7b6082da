"""Offline guarantee: the whole self-test passes in a process where Internet sockets cannot be created.

The self-test runs in a fresh interpreter (like a double-click would) whose ``socket`` module is
patched before anything else is imported: creating an Internet socket, connecting or resolving a
host name prints ``NETWORK-ATTEMPT`` and raises. A control run proves the guard does catch a real
attempt, so the main test cannot pass just because the guard is broken.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NETWORK_GUARD = textwrap.dedent(
    """
    import socket, sys

    def _refuse(what):
        print("NETWORK-ATTEMPT", what, file=sys.stderr, flush=True)
        raise OSError(f"network access blocked by test_offline ({what})")

    _real_socket = socket.socket

    class _GuardedSocket(_real_socket):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
                _refuse(f"socket(family={family})")
            super().__init__(family, type, proto, fileno)

    socket.socket = _GuardedSocket
    socket.create_connection = lambda address, *a, **k: _refuse(f"create_connection({address!r})")
    socket.getaddrinfo = lambda host, *a, **k: _refuse(f"getaddrinfo({host!r})")
    """
)


def _run_guarded(body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "DIFFUSION_LAB_HOME": str(tmp_path / "user-data"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-c", NETWORK_GUARD + textwrap.dedent(body)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )


def test_the_guard_catches_a_real_connection_attempt(tmp_path):
    result = _run_guarded(
        """
        import urllib.request
        try:
            urllib.request.urlopen("http://example.com", timeout=2)
        except Exception as error:
            print("refused:", type(error).__name__)
        """,
        tmp_path,
    )
    assert "NETWORK-ATTEMPT" in result.stderr
    assert "refused:" in result.stdout


def test_self_test_passes_with_sockets_blocked(tmp_path):
    result = _run_guarded(
        """
        from desktop_app.app import main
        sys.exit(main(["--self-test"]))
        """,
        tmp_path,
    )
    output = result.stdout + result.stderr
    assert "NETWORK-ATTEMPT" not in result.stderr, output
    assert result.returncode == 0, output
    assert "SELF-TEST PASSED" in result.stdout
    for check in ("resources", "views", "sampling", "training"):
        assert f"[ok  ] {check}" in result.stdout, output
