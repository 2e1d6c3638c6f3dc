# Data: the built-in benchmark, downloads (paper), SegTrack v2 converted to the DAVIS layout.


localrules:
    download,


rule generate_benchmark:
    output:
        directory(f"{R}/data/synthetic"),
    log:
        f"{R}/logs/data/generate_benchmark.log",
    conda:
        CONDA_ENV
    params:
        seed=config["data"]["synthetic"]["seed"],
        settings=settings_json(config["data"]["synthetic"]["settings"]),
    shell:
        "lsevos generate-benchmark --out {output} --seed {params.seed} --settings {params.settings:q} > {log} 2>&1"


rule download:
    output:
        directory(f"{RES}/{{archive}}"),
    log:
        f"{RES}/logs/download_{{archive}}.log",
    wildcard_constraints:
        archive="|".join(DOWNLOADS),
    conda:
        CONDA_ENV
    params:
        resources=lambda w, output: os.path.dirname(output[0]),
    shell:
        "lsevos download {wildcards.archive} --resources {params.resources} > {log} 2>&1"


rule prepare_segtrack:
    input:
        lambda w: segtrack_dependency(),
    output:
        directory(SEGTRACK_ROOT),
    log:
        f"{R}/logs/data/prepare_segtrack.log",
    conda:
        CONDA_ENV
    params:
        src=lambda w: SEGTRACK_SRC,
        objects=",".join(config["sequences"]["segtrack"]),
    shell:
        "lsevos prepare-segtrack --src {params.src} --out {output} --objects {params.objects} > {log} 2>&1"


rule sbd_augment:
    input:
        voc_sbd_dependencies(),
    output:
        TRAIN_AUG,
    log:
        f"{RES}/logs/sbd_augment.log",
    conda:
        CONDA_ENV
    params:
        voc=VOC_ROOT,
        sbd=SBD_ROOT,
    shell:
        "lsevos sbd-augment --voc {params.voc} --sbd {params.sbd} --out {output} > {log} 2>&1"
