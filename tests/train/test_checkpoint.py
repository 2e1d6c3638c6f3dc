"""Checkpoints: round trip, rebuild from model_config, clear errors."""

import pytest
import torch

from lsevos.errors import DataError
from lsevos.model.lse_net import LSENet
from lsevos.train.checkpoint import load_checkpoint, load_model, save_checkpoint


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.rand(1, 3, 16, 16)).ae.sum().backward()
    optimizer.step()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, step=7, config={"stage": "1"}, optimizer=optimizer, extra={"note": "x"})
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left
    payload = load_checkpoint(path)
    assert payload["step"] == 7 and payload["config"] == {"stage": "1"} and payload["extra"] == {"note": "x"}
    assert payload["model_config"] == {"backbone": "tiny", "embed_dim": 8, "pretrained": False}
    assert payload["optimizer_state"]["state"]  # momentum buffers kept
    rebuilt = load_model(path)
    assert not rebuilt.training and rebuilt.model_config == model.model_config
    image = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        assert torch.equal(rebuilt(image).lse, model.eval()(image).lse)


def test_missing_or_foreign_checkpoint_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(DataError, match="missing format, model_config"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "garbage.pt").write_text("not a checkpoint")
    with pytest.raises(DataError, match="garbage.pt"):
        load_model(tmp_path / "garbage.pt")
