# Per-sequence metrics for every variant, merged per dataset and variant.


rule evaluate:
    input:
        data=dataset_dependency,
        masks=lambda w: plan.variant_output(config, w.dataset, w.seq, w.variant),
    output:
        per_sequence=f"{SEQ_DIR}/metrics/{{variant}}.csv",
        per_frame=f"{SEQ_DIR}/metrics/{{variant}}.per_frame.csv",
        json=f"{SEQ_DIR}/metrics/{{variant}}.json",
    log:
        f"{RESULTS}/logs/{{dataset}}/{{seq}}/evaluate_{{variant}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{dataset}}/{{seq}}/evaluate_{{variant}}.tsv"
    group:
        "cpu_post"
    conda:
        CONDA_ENV
    params:
        root=lambda w: dataset_root(w.dataset),
        masks=lambda w: plan.variant_masks(config, w.dataset, w.seq, w.variant),
    shell:
        "lsevos evaluate --gt {params.root} --pred-dir {params.masks} --sequences {wildcards.seq} "
        "--out {output.per_sequence} --per-frame {output.per_frame} --json {output.json} --jobs 1 > {log} 2>&1"


rule merge_metrics:
    input:
        per_sequence=lambda w: [
            f"{RESULTS}/{w.dataset}/{s}/metrics/{w.variant}.csv" for s in DATASETS[w.dataset]
        ],
        per_frame=lambda w: [
            f"{RESULTS}/{w.dataset}/{s}/metrics/{w.variant}.per_frame.csv" for s in DATASETS[w.dataset]
        ],
    output:
        per_sequence=f"{METRICS_DIR}/{{dataset}}/{{variant}}.csv",
        per_frame=f"{METRICS_DIR}/{{dataset}}/{{variant}}.per_frame.csv",
    log:
        f"{RESULTS}/logs/metrics/{{dataset}}_{{variant}}.log",
    conda:
        CONDA_ENV
    shell:
        "lsevos merge-metrics --out {output.per_sequence} --per-frame-out {output.per_frame} "
        "--per-frame-in {input.per_frame} -- {input.per_sequence} > {log} 2>&1"
