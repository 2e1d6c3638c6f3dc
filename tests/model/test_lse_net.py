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


def test_the_centre_map_is_each_feature_pixel_plus_its_predicted_offset():
    """The LSE head reads the predicted centre of each pixel: its own normalised position (x, y) plus the
    location embedding (LE) at feature resolution; a pixel at (row i, column j) of an H x W feature map
    with a zero offset reads ((j + 0.5) / W, (i + 0.5) / H)."""
    torch.manual_seed(0)
    model = LSENet("tiny", embed_dim=8).eval()
    seen: dict[str, torch.Tensor] = {}
    model.centre_conv.register_forward_hook(lambda module, inputs, output: seen.update(centre=inputs[0]))
    model.le_head.register_forward_hook(lambda module, inputs, output: seen.update(le=output))
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 48))
    le, centre = seen["le"], seen["centre"]
    rows, columns = le.shape[-2:]
    assert centre.shape == le.shape == (1, 2, rows, columns)
    offset = centre - le  # what the network adds to its prediction: the pixel's own position
    assert torch.allclose(offset[0, 0, 0, :], (torch.arange(columns) + 0.5) / columns)  # x along a row
    assert torch.allclose(offset[0, 1, :, 0], (torch.arange(rows) + 0.5) / rows)  # y down a column
    assert torch.allclose(offset[0, 0, :, 1], torch.full((rows,), 1.5 / columns))  # x constant down
