"""LSENet outputs and the centre map."""

import torch

from lsevos.model.lse_net import LSENet


def test_outputs_are_at_input_resolution():
    model = LSENet("tiny", embed_dim=12)
    output = model(torch.rand(2, 3, 50, 70))
    assert output.fg_logit.shape == (2, 1, 50, 70)
    assert output.ae.shape == output.lse.shape == (2, 12, 50, 70)
    assert output.le.shape == (2, 2, 50, 70)
    assert model.model_config == {"backbone": "tiny", "embed_dim": 12, "pretrained": False}


def test_lse_depends_on_the_location_embedding():
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8).eval()
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        before = model(image)
        model.le_head.branches[0][2].bias += 0.5  # shifts every predicted centre
        after = model(image)
    assert torch.equal(before.ae, after.ae)
    assert not torch.allclose(before.lse, after.lse)
