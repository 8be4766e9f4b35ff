"""The pinned requirements: one version of each package, and the one installed."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)$")


def pins(name: str) -> dict[str, str]:
    """``{package: version}`` of one requirements file (``-r`` lines and comments skipped)."""
    found = {}
    for line in (REPO / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        match = PIN.match(line)
        assert match, f"{name}: {line!r} is not pinned with =="
        found[canonicalize_name(match[1].split("[")[0])] = match[2]
    return found


def test_no_package_is_pinned_twice() -> None:
    """requirements-dev.txt extends requirements.txt: re-pinning a package there would up- or downgrade it."""
    runtime, dev = pins("requirements.txt"), pins("requirements-dev.txt")
    assert sorted(set(runtime) & set(dev)) == []


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_installed_versions_match_the_pins(name: str) -> None:
    """The environment the tests run in is the pinned one (a local build tag such as ``+cpu`` aside)."""
    wrong = {}
    for package, pinned in pins(name).items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            installed = "missing"
        if installed == "missing" or Version(installed).public != Version(pinned).public:
            wrong[package] = f"pinned {pinned}, installed {installed}"
    assert wrong == {}
