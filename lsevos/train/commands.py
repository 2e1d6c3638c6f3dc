"""Command line of the training area: `lsevos pretrain` and `lsevos plot-losses`."""

from __future__ import annotations

import argparse
from pathlib import Path

from lsevos.settings_text import is_file, read_mapping


def run_pretrain(args: argparse.Namespace) -> int:
    from lsevos.data.io import prepare_output_file
    from lsevos.train.pretrain import PretrainSettings, pretrain

    inputs = [Path(path) for path in (args.init, args.data) if path and is_file(Path(path))]
    prepare_output_file(args.out, inputs)
    check_loss_log(Path(args.log), Path(args.out), inputs)
    settings = PretrainSettings.from_dict(read_mapping(args.settings, "--settings"))
    data_spec = read_mapping(args.data, "--data")
    pretrain(args.stage, data_spec, settings, out=args.out, log=args.log, init=args.init)
    return 0


def check_loss_log(log: Path, out: Path, inputs: list[Path]) -> None:
    """Refuse, before any work, a `--log` that is `--out` or an input, a folder, or an existing file that is
    not a loss log of `lsevos pretrain` (a resumed run appends to its own log, so the log is written in
    place and a log of an earlier run is taken as lsevos's own by its header); then lock it against
    another run writing the same log."""
    from lsevos.data.io import check_not_overlapping, check_writable
    from lsevos.errors import ConfigError, DataError
    from lsevos.outputs import lock_output

    if log.resolve() == out.resolve():
        raise ConfigError(f"--log {log}: is also --out; give the loss log a file of its own")
    check_not_overlapping(log, inputs, "--log")
    check_writable(log, "--log", "file")
    if log.is_file():
        with open(log, newline="", errors="replace") as handle:
            header = handle.readline().strip()
        if header and not header.startswith("step,total"):
            raise DataError(
                f"{log}: --log is an existing file that is not a loss log of `lsevos pretrain` (its first "
                "line is not step,total,...); give a new file name, or move or delete this file yourself"
            )
    lock_output(log, "--log")


def run_fetch_weights(args: argparse.Namespace) -> int:
    from lsevos.model.backbones import fetch_resnet101_imagenet

    print(fetch_resnet101_imagenet(args.out))
    return 0


def run_plot_losses(args: argparse.Namespace) -> int:
    from lsevos.data.io import prepare_output_file
    from lsevos.train.plots import plot_losses

    prepare_output_file(args.out, (args.log,))
    plot_losses(args.log, args.out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain the network on static multi-instance images (stage 1, 2, 3 or fp)",
        description="Pretraining stage 1 (AE+LE), 2 (LSE layers), 3 (joint with FP) or fp (FP only). "
        "Resumes from OUT.resume when a run with the same arguments was interrupted.",
    )
    parser.add_argument("--stage", required=True, choices=("1", "2", "3", "fp"))
    parser.add_argument(
        "--data",
        required=True,
        help='JSON object or JSON/YAML file: {"sources": [{"kind": KIND, ...}, ...]} with KIND one of '
        "voc, sbd, voc_sbd, static, copy_paste (see lsevos.train.data)",
    )
    parser.add_argument(
        "--settings",
        default="{}",
        help="JSON object or JSON/YAML file with this stage's settings (iterations, batch, lr, crop, "
        "momentum, weight_decay, log_every, checkpoint_every, seed, backbone, pretrained, embed_dim, "
        "samples_per_instance)",
    )
    parser.add_argument("--init", help="checkpoint of the previous stage (required for stages 2 and 3)")
    parser.add_argument("--out", required=True, help="final checkpoint to write")
    parser.add_argument("--log", required=True, help="loss log CSV to write")
    parser.set_defaults(handler=run_pretrain)

    fetch = subparsers.add_parser(
        "fetch-weights",
        help="place torchvision's ImageNet ResNet-101 weights where pretraining reads them",
        description="Copies resnet101-63fe2227.pth from $TORCH_HOME/hub/checkpoints when it is there, "
        "downloads it otherwise, checks it and writes it to OUT (the workflow's local rule imagenet_weights; "
        "pretraining jobs then read it with TORCH_HOME set to the folder above hub/).",
    )
    fetch.add_argument(
        "--out", required=True, help="file to write (.../hub/checkpoints/resnet101-63fe2227.pth)"
    )
    fetch.set_defaults(handler=run_fetch_weights)

    plot = subparsers.add_parser("plot-losses", help="plot a pretraining loss log (CSV) as a figure")
    plot.add_argument("log", help="loss CSV written by `lsevos pretrain --log`")
    plot.add_argument("--out", required=True, help="figure to write (.png, .pdf, .svg)")
    plot.set_defaults(handler=run_plot_losses)
