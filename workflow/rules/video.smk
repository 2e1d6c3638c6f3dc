# Per sequence and family: the chain (first-frame fine-tune -> scan 1 -> pseudo-labels -> retrain -> scan 2)
# in one job, then CRF; the Table-1 GT-box scan; the prior alone; GrabCut; the final masks. GPU jobs
# (adapt, scan_gtbox) hold no CPU-only step but the seconds of pseudo-labels; CPU-only rules share the
# group `cpu_post`, which the SLURM profile bundles into fewer jobs.


# One process per sequence and family (`lsevos adapt`): fine-tune -> scan 1 -> pseudo-labels -> retrain ->
# scan 2. One job start and torch import (CUDA start) instead of five; a killed job resumes after its
# last finished step (kept in the hidden resume folder, which Snakemake does not delete).
rule adapt:
    input:
        data=dataset_dependency,
        checkpoint=pretrained_checkpoint,
    output:
        finetune=checkpoint_output(f"{FAMILY_DIR}/finetune.pt"),
        scan1=directory(f"{FAMILY_DIR}/scan1"),
        labels=directory(f"{FAMILY_DIR}/pseudo_labels"),
        retrain=checkpoint_output(f"{FAMILY_DIR}/retrain.pt"),
        scan2=directory(f"{FAMILY_DIR}/scan2"),
    log:
        f"{LOG_DIR}/adapt.log",
    benchmark:
        f"{BENCH_DIR}/adapt.tsv"
    conda:
        CONDA_ENV
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        frames=frames_dir,
        first_mask=first_mask,
        settings=VIDEO_SETTINGS,
        resume=f"{FAMILY_DIR}/.adapt-resume",
    shell:
        "OMP_NUM_THREADS={threads} lsevos adapt --frames {params.frames} --first-mask {params.first_mask} "
        "--checkpoint {input.checkpoint} --family {wildcards.family} --settings {params.settings:q} "
        "--finetune-out {output.finetune} --scan1-out {output.scan1} --labels-out {output.labels} "
        "--retrain-out {output.retrain} --scan2-out {output.scan2} --resume-dir {params.resume} > {log} 2>&1"


# Table 1's GT-box scan on the fine-tuned model with the GT masks' boxes.
rule scan_gtbox:
    input:
        data=dataset_dependency,
        checkpoint=f"{FAMILY_DIR}/finetune.pt",
    output:
        directory(f"{FAMILY_DIR}/gtbox"),
    log:
        f"{LOG_DIR}/gtbox.log",
    benchmark:
        f"{BENCH_DIR}/gtbox.tsv"
    conda:
        CONDA_ENV
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        frames=frames_dir,
        first_mask=first_mask,
        gt_masks=gt_masks_dir,
        settings=VIDEO_SETTINGS,
    shell:
        "OMP_NUM_THREADS={threads} lsevos scan --frames {params.frames} --checkpoint {input.checkpoint} "
        "--family {wildcards.family} --first-mask {params.first_mask} --gt-masks {params.gt_masks} "
        "--settings {params.settings:q} --out {output} > {log} 2>&1"


# The `prior` variant: scan 1's tracker from the same first box, every crop segmented by the salient-object
# prior alone (lsevos.video.variants.PRIOR_ALONE); no model is read, so the job needs no pretraining and is
# CPU only (group cpu_post).
rule scan_prior:
    input:
        data=dataset_dependency,
    output:
        directory(f"{FAMILY_DIR}/prior"),
    log:
        f"{LOG_DIR}/prior.log",
    benchmark:
        f"{BENCH_DIR}/prior.tsv"
    group:
        "cpu_post"
    conda:
        CONDA_ENV
    params:
        frames=frames_dir,
        first_mask=first_mask,
        settings=PRIOR_SETTINGS,
    shell:
        "OMP_NUM_THREADS=1 lsevos scan --frames {params.frames} --family {wildcards.family} "
        "--first-mask {params.first_mask} --settings {params.settings:q} --out {output} > {log} 2>&1"


# Dense CRF: CPU only (group cpu_post): no GPU job holds its GPU through it.
rule crf:
    input:
        data=dataset_dependency,
        scan=f"{FAMILY_DIR}/{{scan}}",
    output:
        directory(f"{FAMILY_DIR}/{{scan}}_crf"),
    log:
        f"{LOG_DIR}/{{scan}}_crf.log",
    benchmark:
        f"{BENCH_DIR}/{{scan}}_crf.tsv"
    wildcard_constraints:
        scan="scan1|scan2|gtbox",
    group:
        "cpu_post"  # CPU only: not inside a chain's GPU job
    conda:
        CONDA_ENV
    params:
        frames=frames_dir,
        settings=VIDEO_SETTINGS,
    shell:
        "lsevos crf --frames {params.frames} --scan {input.scan} --settings {params.settings:q} "
        "--out {output} > {log} 2>&1"


rule grabcut:
    input:
        dataset_dependency,
    output:
        directory(f"{SEQ_DIR}/grabcut"),
    log:
        f"{RESULTS}/logs/{{dataset}}/{{seq}}/grabcut.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/{{seq}}/grabcut.tsv"
    group:
        "cpu_post"
    conda:
        CONDA_ENV
    params:
        root=lambda w: dataset_root(w.dataset),
        margin=config["grabcut"]["margin"],
        iterations=config["grabcut"]["iterations"],
    shell:
        "lsevos grabcut --data {params.root} --sequences {wildcards.seq} --out {output} --layout flat "
        "--margin {params.margin} --iterations {params.iterations} --jobs 1 > {log} 2>&1"


rule final_masks:
    input:
        lambda w: plan.variant_output(config, w.dataset, w.seq, config["main_variant"]),
    output:
        directory(f"{SEQ_DIR}/masks"),
    log:
        f"{RESULTS}/logs/{{dataset}}/{{seq}}/final_masks.log",
    conda:
        CONDA_ENV
    params:
        masks=lambda w: plan.variant_masks(config, w.dataset, w.seq, config["main_variant"]),
    shell:
        "(rm -rf {output}.tmp && cp -r {params.masks} {output}.tmp && mv {output}.tmp {output}) > {log} 2>&1"
