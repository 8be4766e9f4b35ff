"""pyproject.toml agrees with the package it describes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import e2rank_demo

REPO = Path(__file__).resolve().parents[1]


def test_pyproject_version_is_the_package_version() -> None:
    """The version is written twice (pyproject.toml has no build backend to read it); they must agree."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == e2rank_demo.__version__


def test_all_lists_exactly_the_lazy_names() -> None:
    """``__all__`` is spelled out for the linters; it must stay the lazily imported names plus the version."""
    assert sorted(e2rank_demo.__all__) == sorted(["__version__", *e2rank_demo._LAZY])
    assert len(set(e2rank_demo.__all__)) == len(e2rank_demo.__all__)
