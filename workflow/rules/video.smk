# Per sequence and family: first-frame fine-tune -> scan 1 -> pseudo-labels -> retrain -> scan 2 (-> CRF);
# the Table-1 GT-box scan; GrabCut; the final masks of the main variant.


rule finetune:
    input:
        data=dataset_dependency,
        checkpoint=pretrained_checkpoint,
    output:
        checkpoint_output(f"{FAMILY_DIR}/finetune.pt"),
    log:
        f"{LOG_DIR}/finetune.log",
    group:
        "per_sequence"
    conda:
        CONDA_ENV
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        frames=frames_dir,
        first_mask=first_mask,
        settings=video_settings(),
    shell:
        "OMP_NUM_THREADS={threads} lsevos finetune --frames {params.frames} --first-mask {params.first_mask} "
        "--checkpoint {input.checkpoint} --family {wildcards.family} --settings {params.settings:q} "
        "--out {output} > {log} 2>&1"


rule scan:
    input:
        data=dataset_dependency,
        checkpoint=scan_checkpoint,
    output:
        directory(f"{FAMILY_DIR}/{{scan}}"),
    log:
        f"{LOG_DIR}/{{scan}}.log",
    wildcard_constraints:
        scan="scan1|scan2",
    group:
        "per_sequence"
    conda:
        CONDA_ENV
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        frames=frames_dir,
        first_mask=first_mask,
        gt_boxes="",
        settings=video_settings(),
    shell:
        "OMP_NUM_THREADS={threads} lsevos scan --frames {params.frames} --checkpoint {input.checkpoint} --family {wildcards.family} "
        "--first-mask {params.first_mask} {params.gt_boxes} --settings {params.settings:q} --out {output} "
        "> {log} 2>&1"


# Table 1's GT-box scan: the scan rule on the fine-tuned model with the GT masks' boxes. Its own group, so
# that no group job (one SLURM job) holds two GPU steps side by side (it would run beside scan 1).
use rule scan as scan_gtbox with:
    input:
        data=dataset_dependency,
        checkpoint=f"{FAMILY_DIR}/finetune.pt",
    output:
        directory(f"{FAMILY_DIR}/gtbox"),
    log:
        f"{LOG_DIR}/gtbox.log",
    group:
        "gtbox"
    params:
        frames=frames_dir,
        first_mask=first_mask,
        gt_boxes=lambda w: f"--gt-masks {gt_masks_dir(w)}",
        settings=video_settings(),


rule pseudo_labels:
    input:
        f"{FAMILY_DIR}/scan1",
    output:
        directory(f"{FAMILY_DIR}/pseudo_labels"),
    log:
        f"{LOG_DIR}/pseudo_labels.log",
    group:
        "per_sequence"
    conda:
        CONDA_ENV
    params:
        settings=video_settings(),
    shell:
        "lsevos pseudo-labels --scan {input} --settings {params.settings:q} --out {output} > {log} 2>&1"


rule retrain:
    input:
        data=dataset_dependency,
        labels=f"{FAMILY_DIR}/pseudo_labels",
        checkpoint=f"{FAMILY_DIR}/finetune.pt",
    output:
        checkpoint_output(f"{FAMILY_DIR}/retrain.pt"),
    log:
        f"{LOG_DIR}/retrain.log",
    group:
        "per_sequence"
    conda:
        CONDA_ENV
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        frames=frames_dir,
        settings=video_settings(),
    shell:
        "OMP_NUM_THREADS={threads} lsevos retrain --frames {params.frames} --labels {input.labels} --checkpoint {input.checkpoint} "
        "--family {wildcards.family} --settings {params.settings:q} --out {output} > {log} 2>&1"


# Dense CRF: CPU only, so its own group: a chain's GPU job does not hold its GPU through it.
rule crf:
    input:
        data=dataset_dependency,
        scan=f"{FAMILY_DIR}/{{scan}}",
    output:
        directory(f"{FAMILY_DIR}/{{scan}}_crf"),
    log:
        f"{LOG_DIR}/{{scan}}_crf.log",
    wildcard_constraints:
        scan="scan1|scan2|gtbox",
    group:
        "cpu_post"  # CPU only: not inside a chain's GPU job
    conda:
        CONDA_ENV
    params:
        frames=frames_dir,
        settings=video_settings(),
    shell:
        "lsevos crf --frames {params.frames} --scan {input.scan} --settings {params.settings:q} "
        "--out {output} > {log} 2>&1"


rule grabcut:
    input:
        dataset_dependency,
    output:
        directory(f"{SEQ_DIR}/grabcut"),
    log:
        f"{R}/logs/{{dataset}}/{{seq}}/grabcut.log",
    group:
        "per_sequence"
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
        lambda w: variant_output(w.dataset, w.seq, config["main_variant"]),
    output:
        directory(f"{SEQ_DIR}/masks"),
    log:
        f"{R}/logs/{{dataset}}/{{seq}}/final_masks.log",
    conda:
        CONDA_ENV
    params:
        masks=lambda w: variant_masks(w.dataset, w.seq, config["main_variant"]),
    shell:
        "(rm -rf {output}.tmp && cp -r {params.masks} {output}.tmp && mv {output}.tmp {output}) > {log} 2>&1"
