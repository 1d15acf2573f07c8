"""Build a wheel and an sdist for every distribution under packages/.

Usage: python scripts/build_all.py [--outdir DIR] [--only NAME ...]

Each folder of packages/ that has a pyproject.toml is built with ``python -m build`` (the
PyPA ``build`` package, in an isolated build environment) into ``dist/`` at the repository
root, or into ``--outdir``. Exits non-zero, naming the packages that failed, if any build
fails.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"


def package_dirs() -> list[Path]:
    """Every folder of packages/ holding a pyproject.toml, sorted by name."""
    return sorted(p.parent for p in PACKAGES.glob("*/pyproject.toml"))


def build(package: Path, outdir: Path) -> bool:
    print(f"==> building {package.name}", flush=True)
    started = time.monotonic()
    # No --sdist/--wheel: build makes the sdist, then the wheel from it, which proves the
    # sdist is complete.
    cmd = [sys.executable, "-m", "build", "--outdir", str(outdir)]
    result = subprocess.run([*cmd, str(package)], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout, end="")
        print(result.stderr, end="", file=sys.stderr)
        print(f"!! {package.name}: build failed (exit {result.returncode})", file=sys.stderr)
        return False
    built = [line for line in result.stdout.splitlines() if line.startswith("Successfully built")]
    print(f"    {built[-1] if built else 'done'} ({time.monotonic() - started:.1f}s)", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--outdir",
        type=Path,
        default=ROOT / "dist",
        help="where the wheels and sdists go (default: dist/ at the repository root)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="build only these package folders (e.g. dorm-core dorm-sqlite)",
    )
    args = parser.parse_args(argv)

    packages = package_dirs()
    if not packages:
        print(f"error: no packages/*/pyproject.toml under {ROOT}", file=sys.stderr)
        return 2
    if args.only:
        by_name = {p.name: p for p in packages}
        unknown = sorted(set(args.only) - set(by_name))
        if unknown:
            print(
                f"error: unknown package(s) {', '.join(unknown)}; available: {', '.join(by_name)}",
                file=sys.stderr,
            )
            return 2
        packages = [by_name[name] for name in args.only]

    if importlib.util.find_spec("build") is None:
        print(
            f"error: the 'build' package is not installed for {sys.executable}.\n"
            "Install it with `python -m pip install build`, or run `hatch run build:all`.",
            file=sys.stderr,
        )
        return 2

    outdir = args.outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    failed = [p.name for p in packages if not build(p, outdir)]
    if failed:
        print(
            f"error: {len(failed)} package(s) failed to build: {', '.join(failed)}", file=sys.stderr
        )
        return 1
    print(f"Built {len(packages)} package(s) into {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
