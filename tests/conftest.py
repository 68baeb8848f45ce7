"""Shared fixtures: small random-init weights built on the fly (never presented as a model)."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run tests marked slow (CI does)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random-init ChessFormer with a 32-token window (so long games re-anchor)."""
    import torch

    from chessformer.engine.model import ChessFormer, ModelConfig
    from chessformer.engine.weights import save_weights

    torch.manual_seed(0)
    model = ChessFormer(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=32))
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(model, path, {"random_init": True, "description": "tiny random-init test weights"})
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_weights: Path):
    from chessformer.engine.weights import load_weights

    model, _ = load_weights(tiny_weights)
    return model
