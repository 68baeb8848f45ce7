import json
import shutil
from pathlib import Path

import pytest

from chessformer.engine.weights import WeightsError, load_weights, read_info


def _copy(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / "w.safetensors"
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_roundtrip(tiny_weights: Path) -> None:
    model, info = load_weights(tiny_weights)
    assert info.is_random_init
    assert model.num_parameters() > 0


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        read_info(tmp_path / "nope.safetensors")


def test_missing_json(tiny_weights: Path, tmp_path: Path) -> None:
    p = _copy(tiny_weights, tmp_path)
    p.with_suffix(".json").unlink()
    with pytest.raises(WeightsError, match="config not found"):
        read_info(p)


def test_corrupted_file_fails_sha256(tiny_weights: Path, tmp_path: Path) -> None:
    p = _copy(tiny_weights, tmp_path)
    data = bytearray(p.read_bytes())
    data[-10] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        load_weights(p)


def test_tokenizer_mismatch_and_bad_config(tiny_weights: Path, tmp_path: Path) -> None:
    p = _copy(tiny_weights, tmp_path)
    meta = json.loads(p.with_suffix(".json").read_text())
    meta["tokenizer_version"] = 99
    p.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="tokenizer_version"):
        load_weights(p)
    meta["tokenizer_version"] = 1
    meta["config"]["n_embd"] = 64
    p.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="shape"):
        load_weights(p)
    p.with_suffix(".json").write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_weights(p)


def test_not_safetensors_content(tmp_path: Path, tiny_weights: Path) -> None:
    p = _copy(tiny_weights, tmp_path)
    p.write_bytes(b"garbage" * 10)
    meta = json.loads(p.with_suffix(".json").read_text())
    from chessformer.engine.weights import file_sha256

    meta["sha256"] = file_sha256(p)
    p.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_weights(p)


def test_hash_for_slots_is_the_inverse_of_slots_for() -> None:
    from chessformer.engine.loader import hash_mb_for_slots, slot_bytes, slots_for
    from chessformer.engine.model import ChessFormer, ModelConfig

    for cfg in (ModelConfig(n_layer=4, n_head=4, n_embd=256, block_size=256), ModelConfig(2, 2, 32, 2)):
        model = ChessFormer(cfg)
        assert slot_bytes(cfg.to_dict()) == 2 * cfg.n_layer * cfg.block_size * cfg.n_embd * 4
        for want in (16, 32, 100, 256):  # slots_for never gives fewer than 8
            mb = hash_mb_for_slots(cfg.to_dict(), want)
            assert slots_for(model, mb) >= want  # enough ...
            assert mb == 1 or slots_for(model, mb - 1) < want  # ... and the smallest Hash that is
