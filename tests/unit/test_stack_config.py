"""Where `catalog-stack` keeps a stack's data, from the environment."""

from pathlib import Path

import pytest

from catalog_stack.infra import StackConfig


def test_the_stack_directory_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CATALOG_STACK_DIR", str(tmp_path / "elsewhere"))
    assert StackConfig.from_env(tmp_path / "default").root == tmp_path / "elsewhere"


def test_an_empty_stack_directory_means_the_default_not_the_current_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CATALOG_STACK_DIR", "")
    assert StackConfig.from_env(tmp_path / "default").root == tmp_path / "default"
