"""Measure the double-click app against its targets: size, compressed size, start-up time, idle memory.

    python benchmarks/bench_bundle.py                       # the PyInstaller build in "dist/Diffusion Lab"
    python benchmarks/bench_bundle.py --bundle PATH --runs 5
    python benchmarks/bench_bundle.py --source              # start-up of `python -m desktop_app` instead

Start-up is timed from launching the process to the app's probe lines (``DIFFUSION_LAB_STARTUP_PROBE=1``
makes it print ``window-shown`` (the main window is on screen: the first feedback too),
``first-view-ready`` (torch is loaded and the view on screen built, so it can be used),
``views-ready`` (every view built, one per turn of the event loop) and, after idling, ``idle-rss-mb``, then quit), on
the offscreen Qt platform unless ``QT_QPA_PLATFORM`` is set. The first run after a build is the cold
one (files not yet in the page cache); the median of the others is the warm start.

Targets (issue 5): bundle <= 700 MiB on disk, archive <= 300 MiB, main window <= 2.5 s, feedback
<= 0.5 s, idle memory <= 600 MiB; "first view usable" and "all views built" are printed against the window's
2.5 s as well, so the time until a student can click is never hidden behind the window's. The script prints the
numbers; it never fails on them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUNDLE = ROOT / "dist" / "Diffusion Lab"
MIB = 1024 * 1024
TARGETS = {
    "bundle_mib": 700.0,
    "archive_mib": 300.0,
    "window_s": 2.5,
    "first_view_s": 2.5,  # the view on screen, built first: what the student can use
    "views_s": 2.5,  # not a target of issue 5: the window's 2.5 s, held against the moment all are built
    "feedback_s": 0.5,
    "idle_rss_mib": 600.0,
}


def folder_size(folder: Path) -> int:
    """Bytes of all regular files under ``folder`` (symlinks not followed, as an archive stores them)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total


def largest_parts(folder: Path, depth: int = 3, top: int = 12) -> list[tuple[int, str]]:
    """The ``top`` biggest sub-folders ``depth`` levels below the bundle's library folder."""
    sizes: dict[str, int] = defaultdict(int)
    for dirpath, _dirnames, filenames in os.walk(folder):
        relative = Path(dirpath).relative_to(folder).parts
        key = "/".join(relative[:depth]) or "."
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                sizes[key] += os.path.getsize(path)
    return sorted(((size, key) for key, size in sizes.items()), reverse=True)[:top]


def archive_sizes(folder: Path, formats: list[str]) -> dict[str, tuple[int, float]]:
    """Size and build time of a tar.gz (gzip level 6) and/or a zip (deflate level 6) of ``folder``."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as scratch:
        if "tar.gz" in formats:
            start = time.perf_counter()
            path = Path(scratch) / "bundle.tar.gz"
            with tarfile.open(path, "w:gz", compresslevel=6) as tar:
                tar.add(folder, arcname=folder.name)
            results["tar.gz"] = (path.stat().st_size, time.perf_counter() - start)
            path.unlink()
        if "zip" in formats:
            start = time.perf_counter()
            path = Path(scratch) / "bundle.zip"
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
                for dirpath, _dirnames, filenames in os.walk(folder):
                    for name in filenames:
                        file = Path(dirpath) / name
                        arcname = str(file.relative_to(folder.parent))
                        if file.is_symlink():  # store the link itself (Info-ZIP convention), not a 2nd copy
                            link = zipfile.ZipInfo(arcname)
                            link.external_attr = 0o120777 << 16  # S_IFLNK | rwxrwxrwx
                            archive.writestr(link, os.readlink(file))
                        else:
                            archive.write(file, arcname)
            results["zip"] = (path.stat().st_size, time.perf_counter() - start)
    return results


def find_executable(bundle: Path) -> Path:
    """The app's executable inside a one-folder bundle (Linux/Windows) or a macOS .app."""
    for candidate in (bundle / "Diffusion Lab", bundle / "Diffusion Lab.exe", bundle / "Contents/MacOS/Diffusion Lab"):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"No 'Diffusion Lab' executable in {bundle}: build it first with `pyinstaller build.spec`.")


def time_startup(command: list[str], idle_s: float, timeout_s: float = 180.0) -> dict[str, float]:
    """Launch ``command`` with the start-up probe on; return seconds to the window and to usable views, and idle RSS."""
    env = {
        **os.environ,
        "DIFFUSION_LAB_STARTUP_PROBE": "1",
        "DIFFUSION_LAB_PROBE_IDLE_S": str(idle_s),
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
    }
    env.setdefault("DIFFUSION_LAB_HOME", tempfile.mkdtemp(prefix="bench-bundle-home-"))
    result: dict[str, float] = {}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            parts = line.split()
            if len(parts) == 2 and parts[0] == "window-shown":
                result["window_s"] = result["feedback_s"] = time.perf_counter() - start
            elif len(parts) == 2 and parts[0] == "first-view-ready":
                result["first_view_s"] = time.perf_counter() - start
            elif len(parts) == 2 and parts[0] == "views-ready":
                result["views_s"] = time.perf_counter() - start
            elif len(parts) == 2 and parts[0] == "idle-rss-mb":
                result["idle_rss_mib"] = float(parts[1])
            if time.perf_counter() - start > timeout_s:
                break
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    if "window_s" not in result:
        raise SystemExit(f"{command[0]} never reported 'window-shown' (exit code {process.returncode}).")
    return result


def verdict(value: float, key: str) -> str:
    return "ok" if value <= TARGETS[key] else "OVER TARGET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="one-folder build to measure")
    parser.add_argument("--source", action="store_true", help="time `python -m desktop_app` instead of a bundle")
    parser.add_argument("--runs", type=int, default=3, help="start-up runs (the first is the cold one)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds of idling before memory is read")
    parser.add_argument("--archive", default="tar.gz,zip", help="archive formats to measure ('' for none)")
    parser.add_argument("--top", type=int, default=12, help="show the largest parts of the bundle")
    args = parser.parse_args(argv)

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}")
    if args.source:
        command = [sys.executable, "-m", "desktop_app"]
        print("measuring: python -m desktop_app (source checkout)")
    else:
        bundle = args.bundle.resolve()
        command = [str(find_executable(bundle))]
        print(f"measuring: {bundle}")
        size = folder_size(bundle)
        dangling = [str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_symlink() and not p.exists()]
        if dangling:
            print(f"warning: {len(dangling)} dangling symlinks in the bundle: {', '.join(dangling[:5])}")
        print(
            f"bundle on disk      {size / MIB:8.1f} MiB   target <= {TARGETS['bundle_mib']:.0f} MiB   "
            f"{verdict(size / MIB, 'bundle_mib')}"
        )
        for part_size, part in largest_parts(bundle, top=args.top):
            print(f"    {part_size / MIB:8.1f} MiB  {part}")
        formats = [f for f in args.archive.split(",") if f]
        for fmt, (archived, seconds) in archive_sizes(bundle, formats).items():
            print(
                f"archive ({fmt:6s})    {archived / MIB:8.1f} MiB   target <= {TARGETS['archive_mib']:.0f} MiB   "
                f"{verdict(archived / MIB, 'archive_mib')}   ({seconds:.0f} s to build)"
            )

    runs = [time_startup(command, args.idle) for _ in range(max(1, args.runs))]
    cold, warm = runs[0], runs[1:] or runs[:1]
    for key, label, unit in (
        ("feedback_s", "first feedback", "s"),
        ("window_s", "main window shown", "s"),
        ("first_view_s", "first view usable", "s"),
        ("views_s", "all views built", "s"),
    ):
        if key not in cold:
            print(f"{label:<19} not reported")
            continue
        warm_median = statistics.median(r[key] for r in warm)
        print(
            f"{label:<19} {warm_median:8.2f} {unit}     target <= {TARGETS[key]} {unit}   {verdict(warm_median, key)}"
            f"   (cold first run {cold[key]:.2f} {unit}; warm runs {', '.join(f'{r[key]:.2f}' for r in warm)})"
        )
    rss = statistics.median(r.get("idle_rss_mib", float("nan")) for r in runs)
    print(
        f"idle memory (RSS)   {rss:8.1f} MiB   target <= {TARGETS['idle_rss_mib']:.0f} MiB   {verdict(rss, 'idle_rss_mib')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
