# The shipped model (`make model`, config/model.yaml over config/cpu.yaml): the fold-`all` stage-3 model
# packed with the configuration's video settings and a model card (lsevos.video.model_file).


rule model:
    input:
        f"{RESULTS}/pretrain/all/stage3.pt",
    output:
        model=MODEL_FILE,
        card=MODEL_CARD,
    log:
        f"{RESULTS}/logs/model.log",
    conda:
        CONDA_ENV
    params:
        settings=VIDEO_SETTINGS,
        card=model_card,
    shell:
        "lsevos package-model --checkpoint {input} --settings {params.settings:q} --card {params.card:q} "
        "--out {output.model} > {log} 2>&1"
