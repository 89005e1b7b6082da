"""Where a checkpoint came from: app version, git commit and library versions, recorded when saving."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


def safetensors_version() -> str | None:
    try:
        import safetensors

        return safetensors.__version__
    except Exception:  # noqa: BLE001 - provenance is best effort
        return None


def app_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("diffusion-lab")
    except Exception:  # noqa: BLE001 - not installed as a package (a source checkout)
        return None


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the source checkout this code runs from, read from .git without running git."""
    try:
        git = Path(__file__).resolve().parents[2] / ".git"
        if git.is_file():  # a worktree: ".git" is a file "gitdir: <path>"
            text = git.read_text().strip()
            if not text.startswith("gitdir:"):
                return None
            git = (git.parent / text.split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = git
        if (git / "commondir").is_file():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        for base in (git, common):
            if (base / ref).is_file():
                return (base / ref).read_text().strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return None
    return None
