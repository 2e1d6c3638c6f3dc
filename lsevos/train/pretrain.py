"""Pretraining on static multi-instance images, in the paper's three stages (plus the FP-only variant).

- stage `1`: backbone + AE + LE heads, loss L_ae + L_le;
- stage `2`: the LSE layers only (centre-map convolution + LSE ASPP), loss L_lse; stage-1 layers frozen;
- stage `3`: everything jointly, loss L_fg + L_ae + L_le + L_lse (the paper's lower learning rate, 1e-4);
- stage `fp`: backbone + FP head with L_fg only (the model of the FP and FP(no-zoom) variants).

Stages 2 and 3 start from the previous stage's checkpoint (`init`). SGD with momentum and weight decay.

The model, the losses and the batches live on `device` (`cpu` or `cuda`; the workflow passes the config's
top-level `device`). Batches are made by `workers` DataLoader worker processes (0: in the training process)
a few steps ahead; since batch `t` is a pure function of (seed, t), the worker count changes nothing in
the weights. `amp: true` runs the forward in bfloat16 autocast (a GPU option: not bitwise reproducible).
Every `checkpoint_every` steps the run writes `<out>.resume` (model, optimizer, step, config, RNG state,
the loss log so far and the pending log values); a run started with the same arguments resumes from it.
Data sampling is a pure function of (seed, step), so a killed and resumed run ends with bitwise the same
weights as an uninterrupted one (same machine, same thread count). The loss log is a CSV: `step` then one
column per loss (`total` first), each the mean over the steps since the previous row.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lsevos.devices import Device, resolve_device
from lsevos.errors import ConfigError, LsevosError
from lsevos.losses import embedding_loss, foreground_loss, location_loss
from lsevos.model.backbones import BackboneName
from lsevos.model.lse_net import LSENet, LSEOutput
from lsevos.progress import Meter
from lsevos.settings_base import Settings, setting
from lsevos.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from lsevos.train.data import TrainingData, builtin_only

STAGES = ("1", "2", "3", "fp")
# Settings that change where and how fast a run computes, not what it computes: a run resumes across them.
EXECUTION_KEYS = ("device", "workers")
TRAINED_MODULES = {
    "1": ("backbone", "ae_head", "le_head"),
    "2": ("centre_conv", "lse_head"),
    "3": ("backbone", "fp_head", "ae_head", "le_head", "centre_conv", "lse_head"),
    "fp": ("backbone", "fp_head"),
}
STAGE_LOSSES = {"1": ("ae", "le"), "2": ("lse",), "3": ("fg", "ae", "le", "lse"), "fp": ("fg",)}


class PretrainSettings(Settings):
    """One stage's settings (a `pretrain.stage1/2/3/fp` block merged over `pretrain.model`; defaults: the
    paper's stage 1 on ResNet-101). A non-finite loss stops the run."""

    iterations: int = setting(20000, "optimisation steps", gt=0)
    batch: int = setting(7, "images per step", unit="images", gt=0)
    lr: float = setting(1.5e-4, "SGD learning rate (the paper: 1e-4 in stage 3)")
    crop: int = setting(321, "side of the square training crops", unit="px", gt=0)
    momentum: float = setting(0.9, "SGD momentum")
    weight_decay: float = setting(5e-4, "SGD weight decay")
    log_every: int = setting(20, "steps averaged into one row of the loss log", unit="steps", gt=0)
    checkpoint_every: int = setting(
        1000, "steps between resume files (`<checkpoint>.resume`)", unit="steps", gt=0
    )
    seed: int = setting(0, "seed of the initialisation and of the data sampling")
    backbone: BackboneName = setting("resnet101", "the backbone (normally set in `pretrain.model`)")
    pretrained: bool = setting(True, "start from ImageNet weights (normally set in `pretrain.model`)")
    embed_dim: int = setting(
        64,
        "embedding channels of the AE/LE/LSE heads (normally set in `pretrain.model`)",
        unit="channels",
        ge=2,
    )
    samples_per_instance: int = setting(
        50, "pixels sampled per instance by the embedding losses", unit="px", gt=0
    )
    grad_clip: float = setting(10.0, "global gradient norm clip (0: off)", ge=0.0)
    device: Device = setting(
        "auto",
        "where the stage computes; set by the workflow from the top-level `device` (a value here is "
        "replaced)",
    )
    workers: int = setting(0, "DataLoader worker processes (0: in the training process)", ge=0)
    amp: bool = setting(False, "bfloat16 autocast forward (a GPU option; not bitwise reproducible)")

    @classmethod
    def from_dict(cls, values: object, where: str = "pretrain setting") -> PretrainSettings:
        """Settings from a mapping; `ConfigError` naming an unknown, ill-typed or out-of-range key."""
        return super().from_dict(values, where)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The torch generator of step `step` (pixel sampling of the embedding losses)."""
    state = np.random.SeedSequence([seed, step]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def stage_losses(stage: str, model: LSENet, batch, settings: PretrainSettings, step: int) -> dict:
    """The losses of `stage` on `batch` (a `lsevos.train.data.Batch`) as scalar tensors.

    Only the heads the stage's losses read run: stage 1 AE + LE, stage 2 LSE (with the AE and LE it is
    computed from), stage 3 all four, stage `fp` FP."""
    device = batch.images.device
    heads = tuple("fp" if name == "fg" else name for name in STAGE_LOSSES[stage])
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.amp):
        output = model(batch.images, heads=heads)
    if settings.amp:
        output = LSEOutput(
            **{name: None if value is None else value.float() for name, value in vars(output).items()}
        )
    generator = step_generator(settings.seed, step)
    k = settings.samples_per_instance
    losses = {}
    for name in STAGE_LOSSES[stage]:
        if name == "fg":
            losses[name] = foreground_loss(output.fg_logit, batch.foreground)
        elif name == "ae":
            losses[name] = embedding_loss(output.ae, batch.instances, k, generator)
        elif name == "le":
            losses[name] = location_loss(output.le, batch.instances)
        else:
            losses[name] = embedding_loss(output.lse, batch.instances, k, generator)
    return losses


class _StepBatches(torch.utils.data.Dataset):
    """Item `i` is the batch of step `first + i`: a pure function of (seed, step), whoever computes it."""

    def __init__(self, data: TrainingData, seed: int, first: int, count: int, size: int):
        self.data, self.seed, self.first, self.count, self.size = data, seed, first, count, size

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        return self.data.batch(self.seed, self.first + index, self.size)


def step_batches(data: TrainingData, settings: PretrainSettings, start: int, pin_memory: bool = False):
    """The batches of steps `start + 1 .. iterations`, in order, made by `settings.workers` processes."""
    steps = _StepBatches(data, settings.seed, start + 1, settings.iterations - start, settings.batch)
    if settings.workers == 0:
        return (steps[index] for index in range(len(steps)))
    return torch.utils.data.DataLoader(
        steps,
        batch_size=None,
        shuffle=False,
        num_workers=settings.workers,
        pin_memory=pin_memory,
        prefetch_factor=4,
        worker_init_fn=_single_thread_worker,
    )


def _single_thread_worker(_: int) -> None:
    torch.set_num_threads(1)  # the workers crop and resize with numpy/OpenCV; leave the cores to the model


def _resume_path(out: Path) -> Path:
    return out.with_name(out.name + ".resume")


def _build_model(stage: str, settings: PretrainSettings, init: Path | None) -> LSENet:
    if stage in ("2", "3") and init is None:
        raise ConfigError(f"pretrain stage {stage} starts from the previous stage: pass --init CHECKPOINT")
    if init is None:
        torch.manual_seed(settings.seed)
        return LSENet(settings.backbone, settings.embed_dim, settings.pretrained)
    model = model_from_checkpoint(load_checkpoint(init), init)
    for key in ("backbone", "embed_dim"):
        if model.model_config[key] != getattr(settings, key):
            raise ConfigError(
                f"pretrain settings: {key} is {getattr(settings, key)!r} but --init {init} holds a model of "
                f"{key} {model.model_config[key]!r}; make them agree"
            )
    return model


def _write_log(log: Path, columns: list[str], rows: list[dict], mode: str) -> None:
    with open(log, mode, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if mode == "w":
            writer.writeheader()
        writer.writerows(rows)


def _kept_log_rows(log: Path, last_step: int) -> list[dict]:
    if not log.is_file():
        return []
    with open(log, newline="") as handle:
        return [row for row in csv.DictReader(handle) if int(row["step"]) <= last_step]


def pretrain(
    stage: str,
    data_spec: dict,
    settings: PretrainSettings,
    out: str | os.PathLike,
    log: str | os.PathLike,
    init: str | os.PathLike | None = None,
) -> Path:
    """Run (or resume) one pretraining stage, logging to `log`; writes the final checkpoint to `out`."""
    if stage not in STAGES:
        raise ConfigError(f"pretrain: unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    out, log = Path(out), Path(log)
    init = None if init is None else Path(init)
    run_config = {
        "stage": stage,
        "settings": {key: value for key, value in settings.to_dict().items() if key not in EXECUTION_KEYS},
        "data": data_spec,
        "init": str(init) if init else None,
        "builtin_only": builtin_only(data_spec) if isinstance(data_spec, dict) else False,
    }
    device = resolve_device(settings.device, "pretrain settings: key 'device'")
    data = TrainingData(data_spec, settings.crop)
    model = _build_model(stage, settings, init).to(device)
    trained = set(TRAINED_MODULES[stage])
    for name, module in model.named_children():
        module.requires_grad_(name in trained)
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.SGD(
        parameters, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
    )
    columns = ["step", "total", *STAGE_LOSSES[stage]]
    resume = _resume_path(out)
    start, pending = 0, []
    logged: list[dict[str, float]] = []
    if resume.is_file():
        state = load_checkpoint(resume)
        if state["config"] != run_config:
            raise ConfigError(
                f"{resume}: a resume file of a different run (stage, settings, data or init differ); "
                "delete it to start this run from scratch"
            )
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])  # moves the state to the parameters' device
        torch.set_rng_state(state["extra"]["torch_rng_state"])
        start, pending = state["step"], state["extra"]["pending_losses"]
        # The log rows travel in the resume file: Snakemake deletes a killed job's log CSV.
        logged = state["extra"].get("log_rows") or _kept_log_rows(log, start)
        print(f"pretrain stage {stage}: resuming from {resume} at step {start}", file=sys.stderr)
    log.parent.mkdir(parents=True, exist_ok=True)
    _write_log(log, columns, logged, "w")
    out.parent.mkdir(parents=True, exist_ok=True)
    model.train()
    started = time.monotonic()
    meter = Meter(settings.iterations - start, f"pretrain stage {stage}", "step")
    batches = step_batches(data, settings, start, pin_memory=device.type == "cuda")
    for step, batch in zip(range(start + 1, settings.iterations + 1), batches, strict=True):
        batch = batch.to(device)
        losses = stage_losses(stage, model, batch, settings, step)
        total = sum(losses.values())
        if not torch.isfinite(total):
            raise LsevosError(
                f"pretrain stage {stage}: the loss became {total.item()} at step {step} "
                f"({', '.join(f'{k} {v.item():.4g}' for k, v in losses.items())}); lower `lr` "
                f"(now {settings.lr}) or `grad_clip` (now {settings.grad_clip}) in this stage's settings"
            )
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
        optimizer.step()
        pending.append({"total": total.item(), **{name: value.item() for name, value in losses.items()}})
        meter.update(1, f"loss {total.item():.4f}")
        if step % settings.log_every == 0 or step == settings.iterations:
            row = {"step": step, **{name: float(np.mean([p[name] for p in pending])) for name in columns[1:]}}
            _write_log(log, columns, [row], "a")
            logged.append(row)
            pending = []
            rate = (time.monotonic() - started) / (step - start)
            values = " ".join(f"{name} {row[name]:.4f}" for name in columns[1:])
            print(
                f"pretrain stage {stage}: step {step}/{settings.iterations} {values} ({rate:.2f} s/step)",
                file=sys.stderr,
            )
        if step % settings.checkpoint_every == 0 and step < settings.iterations:
            extra = {"torch_rng_state": torch.get_rng_state(), "pending_losses": pending, "log_rows": logged}
            save_checkpoint(resume, model, step=step, config=run_config, optimizer=optimizer, extra=extra)
    meter.close()
    save_checkpoint(out, model, step=settings.iterations, config=run_config)
    resume.unlink(missing_ok=True)
    print(f"pretrain stage {stage}: wrote {out}", file=sys.stderr)
    return out
