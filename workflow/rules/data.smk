# Data: the built-in benchmark, downloads (paper), SegTrack v2 converted to the DAVIS layout.


localrules:
    download,


rule generate_benchmark:
    output:
        directory(f"{RESULTS}/data/synthetic"),
    log:
        f"{RESULTS}/logs/data/generate_benchmark.log",
    conda:
        CONDA_ENV
    params:
        seed=config["data"]["synthetic"]["seed"],
        settings=settings_json(config["data"]["synthetic"]["settings"]),
    shell:
        "lsevos generate-benchmark --out {output} --seed {params.seed} --settings {params.settings:q} > {log} 2>&1"


rule download:
    output:
        directory(f"{RESOURCES}/{{archive}}"),
    log:
        f"{RESOURCES}/logs/download_{{archive}}.log",
    wildcard_constraints:
        archive="|".join(DOWNLOADS),
    conda:
        CONDA_ENV
    params:
        resources=lambda w, output: os.path.dirname(output[0]),
    shell:
        "lsevos download {wildcards.archive} --resources {params.resources} > {log} 2>&1"


# Without SegTrack objects to evaluate (config/cpu-stress.yaml) there may be no SegTrack folder at all: the
# rule exists only when it has something to prepare.
if config["sequences"]["segtrack"]:

    rule prepare_segtrack:
        input:
            SEGTRACK_SOURCE,
        output:
            directory(SEGTRACK_ROOT),
        log:
            f"{RESULTS}/logs/data/prepare_segtrack.log",
        conda:
            CONDA_ENV
        params:
            src=SEGTRACK_RELEASE_ROOT,
            objects=",".join(config["sequences"]["segtrack"]),
        shell:
            "lsevos prepare-segtrack --src {params.src} --out {output} --objects {params.objects} > {log} 2>&1"


rule sbd_augment:
    input:
        VOC_SBD_DOWNLOADS,
    output:
        TRAIN_AUG,
    log:
        f"{RESOURCES}/logs/sbd_augment.log",
    conda:
        CONDA_ENV
    params:
        voc=VOC_ROOT,
        sbd=SBD_ROOT,
    shell:
        "lsevos sbd-augment --voc {params.voc} --sbd {params.sbd} --out {output} > {log} 2>&1"
