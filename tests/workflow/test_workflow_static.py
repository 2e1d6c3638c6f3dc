"""The DAG without running it: dry-runs of the paper configuration, lint, config validation."""

from __future__ import annotations

import re

import pytest

CHAIN = [
    "download",
    "pretrain",
    "adapt",
    "scan_gtbox",
    "crf",
    "grabcut",
    "evaluate",
    "merge_metrics",
    "make_table",
    "figures",
    "tables",
]


def job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's `Job stats` table."""
    stats = output[output.index("Job stats:") :]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}


@pytest.mark.slow
def test_paper_dry_run_lists_the_whole_chain_without_data(tmp_path, workflow, repo_root):
    result = workflow.run(tmp_path, "-n", "tables", configfile=repo_root / "config" / "config.yaml")
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    for rule in CHAIN:
        assert counts.get(rule, 0) >= 1, f"rule {rule} missing from the paper DAG: {counts}"
    # 20 DAVIS sequences x 4 families + 24 SegTrack objects x 1 family are fine-tuned.
    assert counts["adapt"] == 20 * 4 + 24
    # stages 1, 2, 3 and the FP-only model, once: variants share them.
    assert counts["pretrain"] == 4
    assert counts["download"] == 4


@pytest.mark.slow
def test_one_sequence_target_runs_only_its_chain(tmp_path, workflow, repo_root):
    result = workflow.run(
        tmp_path, "-n", "results/davis/blackswan/masks", configfile=repo_root / "config" / "config.yaml"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    assert counts["adapt"] == 1 and "scan_gtbox" not in counts
    assert counts["pretrain"] == 3  # stages 1-3 for the `ours` family
    assert "evaluate" not in counts


@pytest.mark.slow
def test_demo_variants_reuse_shared_work(tmp_path, workflow, repo_root):
    result = workflow.run(tmp_path, "-n", "tables", configfile=repo_root / "config" / "demo.yaml")
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    davis, segtrack = 6, 3
    # ours_static reuses ours' scan 1, ours_crf post-processes ours' scan 2: 4 families are trained.
    assert counts["adapt"] == davis * 4 + segtrack
    assert counts["scan_gtbox"] == davis * 2
    assert counts["crf"] == davis
    assert counts["evaluate"] == davis * 9 + segtrack


@pytest.mark.slow
def test_lint_reports_nothing(workflow, repo_root):
    result = workflow.run(repo_root, "--lint", configfile=repo_root / "config" / "demo.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in a good condition" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"threads": "two"}, "threads"),
        ({"data": {"source": "ftp"}}, "source"),
        ({"pretrain": {"sources": ["imagenet"]}}, "imagenet"),
        ({"video": {"first_frame_span": 0.9}}, "'first_frame_span' acts only with 'first_frame_grabcut'"),
    ],
)
@pytest.mark.slow
def test_bad_config_is_named(tmp_path, workflow, change, named):
    config = workflow.config(tmp_path / "bad.yaml", **change)
    result = workflow.run(tmp_path, "-n", "tables", configfile=config)
    assert result.returncode != 0
    assert named in result.stderr + result.stdout


@pytest.mark.slow
def test_evaluated_sequence_never_used_for_copy_paste(tmp_path, workflow):
    config = workflow.config(
        tmp_path / "leak.yaml",
        pretrain={
            "sources": ["static", "copy_paste"],
            "copy_paste": {"davis_root": None, "sequences": ["glide-sc"]},
        },
    )
    result = workflow.run(tmp_path, "-n", "tables", configfile=config)
    assert result.returncode != 0
    assert "glide-sc" in result.stderr + result.stdout
    assert "both cut for copy-paste pretraining and evaluated" in result.stderr + result.stdout


@pytest.mark.slow
def test_cpu_copy_paste_comes_from_the_train_split_and_excludes_every_evaluated_sequence(
    tmp_path, workflow, repo_root
):
    """config/cpu.yaml: one model; its copy-paste objects are every sequence of the copy-paste root the
    run does not evaluate, and every evaluated sequence is passed as excluded."""
    import json

    import yaml

    cpu = yaml.safe_load((repo_root / "config" / "cpu.yaml").read_text())
    assert cpu["pretrain"]["folds"] is None and cpu["pretrain"]["copy_paste"]["sequences"] == "all"
    result = workflow.run(tmp_path, "-n", "-p", "pretrained", configfile=repo_root / "config" / "cpu.yaml")
    assert result.returncode == 0, result.stderr + result.stdout
    specs = re.findall(r"lsevos pretrain --stage (\w+) --data '(\{.*?\})'", result.stdout)
    assert sorted(stage for stage, _ in specs) == ["1", "2", "3", "fp"]
    evaluated = {seq for names in cpu["sequences"].values() for seq in names}
    for _, spec in specs:
        (source,) = [s for s in json.loads(spec)["sources"] if s["kind"] == "copy_paste"]
        assert source["sequences"] == "all" and set(source["exclude"]) == evaluated


@pytest.mark.slow
def test_cpu_runs_the_prior_alone_once_per_davis_sequence_without_a_model(tmp_path, workflow, repo_root):
    """config/cpu.yaml's `prior` variant: one `lsevos scan` per DAVIS sequence, without a model (so no
    pretraining before it), from the first mask's box, with the video block and PRIOR_ALONE over it, on
    the CPU."""
    import json
    import shlex

    import yaml

    from lsevos.video.variants import PRIOR_ALONE

    cpu = yaml.safe_load((repo_root / "config" / "cpu.yaml").read_text())
    result = workflow.run(tmp_path, "-n", "-p", "tables", configfile=repo_root / "config" / "cpu.yaml")
    assert result.returncode == 0, result.stderr + result.stdout
    assert job_counts(result.stdout)["scan_prior"] == len(cpu["sequences"]["davis"])
    scans = [line for line in _commands(result.stdout, "scan") if "/ours/prior" in line]
    assert len(scans) == len(cpu["sequences"]["davis"])
    for line in scans:
        words = shlex.split(line[line.index("lsevos scan") :].split(" > ")[0])
        assert "--checkpoint" not in words
        assert words[words.index("--first-mask") + 1].endswith("/00000.png")
        settings = json.loads(words[words.index("--settings") + 1])
        assert settings == {**cpu["video"], **PRIOR_ALONE, "device": "cpu"}
    target = f"results/cpu/davis/{cpu['sequences']['davis'][0]}/ours/prior"
    one = workflow.run(tmp_path, "-n", target, configfile=repo_root / "config" / "cpu.yaml")
    assert one.returncode == 0, one.stderr + one.stdout
    counts = job_counts(one.stdout)
    assert counts["scan_prior"] == 1 and "pretrain" not in counts  # nothing waits for a model


def _commands(output: str, name: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(rf"\blsevos {name} ", line)]


@pytest.mark.slow
def test_paper_data_spec_is_accepted_and_device_reaches_every_torch_command(tmp_path, workflow, repo_root):
    """The `--data` the paper DAG passes is what `lsevos pretrain` reads (it once refused a key the workflow
    wrote), its images are the augmented list of rule sbd_augment, and every torch job gets `device`."""
    import json
    import shlex

    from lsevos.train.data import check_data_spec
    from lsevos.train.pretrain import PretrainSettings
    from lsevos.video.settings import VideoSettings

    result = workflow.run(
        tmp_path, "-n", "-p", "results/davis/blackswan/masks", configfile=repo_root / "config" / "config.yaml"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    pretrain = _commands(result.stdout, "pretrain")
    assert len(pretrain) == 3
    for line in pretrain:
        words = shlex.split(line[line.index("lsevos pretrain") :].split(" > ")[0])
        spec = json.loads(words[words.index("--data") + 1])
        (source,) = check_data_spec(spec)
        assert source["kind"] == "voc_sbd" and source["list"] == "resources/train_aug.txt"
        settings = PretrainSettings.from_dict(json.loads(words[words.index("--settings") + 1]))
        assert settings.device == "cuda" and settings.backbone == "resnet101" and settings.crop == 321
    # Every video command gets the whole video block (pseudo-labels once got none: threshold ignored there;
    # they are now made inside `lsevos adapt`, from the same --settings): the chain, Table 1's GT-box scan
    # and the LSE figure, the torch commands besides pretraining.
    torch_jobs = workflow.run(
        tmp_path,
        "-n",
        "-p",
        "results/davis/blackswan/ours/gtbox",
        "results/figures/lse/davis_blackswan.png",
        configfile=repo_root / "config" / "config.yaml",
    )
    assert torch_jobs.returncode == 0, torch_jobs.stderr + torch_jobs.stdout
    for output, name in ((result, "adapt"), (torch_jobs, "scan"), (torch_jobs, "figure-lse")):
        lines = _commands(output.stdout, name)
        assert lines, name
        for line in lines:
            words = shlex.split(line[line.index(f"lsevos {name}") :].split(" > ")[0])
            assert VideoSettings.from_dict(json.loads(words[words.index("--settings") + 1])).device == "cuda"
    assert "lsevos sbd-augment" in result.stdout


def _rule_blocks(repo_root) -> dict[str, tuple[str | None, str]]:
    """rule name -> (the rule it is derived from with `use rule`, its text) for every rule file."""
    blocks = {}
    for path in sorted((repo_root / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        # a rule may be indented under an `if` (rule prepare_segtrack)
        heads = list(re.finditer(r"^\s*(?:rule (\w+):|use rule (\w+) as (\w+) with:)", text, re.MULTILINE))
        for head, following in zip(heads, [*heads[1:], None], strict=False):
            body = text[head.start() : following.start() if following else len(text)]
            if head.group(1):
                blocks[head.group(1)] = (None, body)
            else:
                blocks[head.group(3)] = (head.group(2), body)
    return blocks


def _rule_property(blocks, name: str, pattern: str) -> str | None:
    base, body = blocks[name]
    found = re.search(pattern, body)
    if found:
        return found.group(1)
    return _rule_property(blocks, base, pattern) if base else None


def test_gpu_steps_are_whole_jobs_and_cpu_steps_stay_out_of_them(repo_root):
    """On SLURM a group job asks for its widest layer and holds its resources to the end: a GPU step in a
    group would either sit beside another GPU step (2 GPUs asked, a 1-GPU node refuses) or hold the GPU
    through CPU-only steps. So every GPU rule is ungrouped (one job each: the whole chain is one rule,
    `adapt`) and the grouped rules are CPU only."""
    blocks = _rule_blocks(repo_root)
    group = {name: _rule_property(blocks, name, r'group:\s*\n\s*"(\w+)"') for name in blocks}
    gpu = {name for name in blocks if _rule_property(blocks, name, r"resources:\s*\n\s*(gpu)=GPU")}
    assert gpu == {"pretrain", "adapt", "scan_gtbox"}
    assert all(group[name] is None for name in gpu), {name: group[name] for name in gpu}
    assert {name for name, value in group.items() if value} == {"crf", "evaluate", "grabcut", "scan_prior"}


@pytest.mark.slow
def test_tables_name_the_variants_the_configuration_leaves_out(tmp_path, workflow, repo_root):
    """A config without FP(no-zoom) still gets Table 2: `lsevos tables --left-out davis/fp_nozoom`."""
    import yaml

    variants = yaml.safe_load((repo_root / "config" / "demo.yaml").read_text())["variants"]
    kept = [variant for variant in variants if variant != "fp_nozoom"]
    config = workflow.config(tmp_path / "no_nozoom.yaml", base="demo.yaml", variants=kept)
    result = workflow.run(tmp_path, "-n", "-p", "tables", configfile=config)
    assert result.returncode == 0, result.stderr + result.stdout
    tables = {
        found.group(1): found.group(2)
        for found in re.finditer(r"lsevos tables .*--tables (\d) --left-out '([^']*)'", result.stdout)
    }
    assert tables == {"1": "", "2": "davis/fp_nozoom", "3": "", "4": "", "5": ""}


def _local_rules(repo_root) -> set[str]:
    names: set[str] = set()
    for path in [
        repo_root / "workflow" / "Snakefile",
        *sorted((repo_root / "workflow" / "rules").glob("*.smk")),
    ]:
        for block in re.findall(r"^localrules:\n((?:    \w+,\n)+)", path.read_text(), re.MULTILINE):
            names |= set(re.findall(r"(\w+),", block))
    return names


@pytest.mark.slow
def test_paper_dag_books_gpus_for_gpu_steps_only_and_fetches_weights_locally(tmp_path, workflow, repo_root):
    config = repo_root / "config" / "config.yaml"
    result = workflow.run(tmp_path, "-n", "tables", configfile=config)
    assert result.returncode == 0, result.stderr
    # Jobs of a group are printed indented; a job's text ends at the next job.
    heads = list(re.finditer(r"^\s*(?:local)?rule (\w+):$", result.stdout, re.MULTILINE))
    ends = [head.start() for head in heads[1:]] + [len(result.stdout)]
    jobs = [(head.group(1), result.stdout[head.end() : end]) for head, end in zip(heads, ends, strict=True)]
    booked = {name for name, body in jobs if re.search(r"resources: .*\bgpu=1\b", body)}
    assert booked == {"pretrain", "adapt", "scan_gtbox"}, booked
    ran = {name for name, _ in jobs}
    assert {"crf", "evaluate", "grabcut", "figures"} <= ran - booked
    # The ImageNet weights: a local rule (the login node has the internet), before the first pretraining.
    assert "imagenet_weights" in ran and "imagenet_weights" in _local_rules(repo_root)
    fetch = re.search(r"lsevos fetch-weights --out (\S+)", result.stdout).group(1)
    for line in _commands(result.stdout, "pretrain"):
        assert line.startswith(f"Shell command: TORCH_HOME={fetch.split('/hub/')[0]} ")


def test_slurm_profile_sends_cpu_only_jobs_to_the_cpu_partition(repo_root, monkeypatch):
    """Every rule that SLURM runs without a GPU names LSEVOS_SLURM_CPU_PARTITION (falling back to the
    default partition); the GPU rules keep the default partition."""
    import yaml

    profile = yaml.safe_load((repo_root / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    blocks = _rule_blocks(repo_root)
    gpu = {name for name in blocks if _rule_property(blocks, name, r"resources:\s*\n\s*(gpu)=GPU")}
    submitted_cpu = set(blocks) - gpu - _local_rules(repo_root) - {"all", "pretrained", "segmented"}
    partition = {rule: values.get("slurm_partition") for rule, values in profile["set-resources"].items()}
    assert submitted_cpu <= {rule for rule, value in partition.items() if value}, submitted_cpu
    assert not any(partition.get(rule) for rule in gpu)
    expression = partition["evaluate"]
    monkeypatch.setenv("LSEVOS_SLURM_PARTITION", "gpu")
    monkeypatch.delenv("LSEVOS_SLURM_CPU_PARTITION", raising=False)
    assert eval(expression) == "gpu"
    monkeypatch.setenv("LSEVOS_SLURM_CPU_PARTITION", "cpu")
    assert all(eval(partition[rule]) == "cpu" for rule in submitted_cpu)


@pytest.mark.slow
def test_cpu_stress_plans_without_any_segtrack_folder(tmp_path, workflow, repo_root):
    """config/cpu.yaml + config/cpu-stress.yaml, as docs/stress-suite.md runs them: the suite evaluates no
    SegTrack object and names no SegTrack folder, so no job prepares one, and every variant of cpu.yaml runs
    on each of the 16 stress sequences."""
    import yaml

    stress = yaml.safe_load((repo_root / "config" / "cpu-stress.yaml").read_text())
    variants = yaml.safe_load((repo_root / "config" / "cpu.yaml").read_text())["variants"]
    names = stress["sequences"]["davis"]
    for name in names:
        (tmp_path / "suite" / "JPEGImages" / "480p" / name).mkdir(parents=True)
    (tmp_path / "train" / "JPEGImages" / "480p" / "bear").mkdir(parents=True)
    (tmp_path / "train" / "Annotations" / "480p" / "bear").mkdir(parents=True)
    place = tmp_path / "place.yaml"
    place.write_text(
        yaml.safe_dump({"data": {"davis_root": "suite"}, "pretrain": {"copy_paste": {"davis_root": "train"}}})
    )
    configs = [str(repo_root / "config" / name) for name in ("cpu.yaml", "cpu-stress.yaml")]
    result = workflow.run(tmp_path, "-n", "segmented", "--configfile", *configs, str(place))
    assert result.returncode == 0, result.stderr + result.stdout
    counts = job_counts(result.stdout)
    assert "prepare_segtrack" not in counts and "download" not in counts
    assert counts["final_masks"] == len(names) == 16
    assert counts["evaluate"] == len(names) * (len(variants) + 1)  # and the GrabCut baseline
