# Pretraining on static multi-instance images: stage 1 (AE+LE) -> 2 (LSE) -> 3 (joint with FP); and the
# FP-only model of the FP / FP(no-zoom) ablation variants. One model per fold (folds keep evaluated
# sequences out of copy-paste pretraining).


rule pretrain:
    input:
        pretrain_dependencies,
    output:
        checkpoint=f"{RESULTS}/pretrain/{{fold}}/stage{{stage}}.pt",
        losses=f"{RESULTS}/pretrain/{{fold}}/stage{{stage}}_losses.csv",
    log:
        f"{RESULTS}/logs/pretrain/{{fold}}/stage{{stage}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/pretrain/{{fold}}/stage{{stage}}.tsv"
    wildcard_constraints:
        stage="1|2|3|fp",
    priority: 10  # the longest chain: start it before the independent baselines
    conda:
        CONDA_ENV
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        data=pretrain_sources,
        settings=stage_settings,
        init=init_option,
        torch_home=IMAGENET_HOME,
    shell:
        "TORCH_HOME={params.torch_home} OMP_NUM_THREADS={threads} lsevos pretrain --stage {wildcards.stage} --data {params.data:q} --settings {params.settings:q} "
        "{params.init} --out {output.checkpoint} --log {output.losses} > {log} 2>&1"


rule imagenet_weights:
    output:
        f"{IMAGENET_HOME}/hub/checkpoints/{{file}}",
    log:
        f"{RESOURCES}/logs/imagenet_weights_{{file}}.log",
    conda:
        CONDA_ENV
    shell:
        "lsevos fetch-weights --out {output} > {log} 2>&1"


rule loss_curve:
    input:
        f"{RESULTS}/pretrain/{{fold}}/stage{{stage}}_losses.csv",
    output:
        report(
            f"{RESULTS}/pretrain/{{fold}}/stage{{stage}}_losses.png",
            caption="../report/loss_curve.rst",
            category="Pretraining",
        ),
    log:
        f"{RESULTS}/logs/pretrain/{{fold}}/stage{{stage}}_curve.log",
    wildcard_constraints:
        stage="1|2|3|fp",
    conda:
        CONDA_ENV
    shell:
        "lsevos plot-losses {input} --out {output} > {log} 2>&1"
