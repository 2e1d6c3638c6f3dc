# The paper's five tables, the figures and a metrics summary for DVC.


rule make_table:
    input:
        metrics=lambda w: table_inputs(w.number),
        data=lambda w: dataset_dependency(Namespace(dataset="davis")),
    output:
        csv=f"{TABLES_DIR}/table{{number}}.csv",
        tex=f"{TABLES_DIR}/table{{number}}.tex",
        md=report(f"{TABLES_DIR}/table{{number}}.md", caption="../report/table.rst", category="Tables"),
    log:
        f"{RESULTS}/logs/tables/table{{number}}.log",
    wildcard_constraints:
        number="[1-5]",
    conda:
        CONDA_ENV
    params:
        name=config["name"],
        metrics=lambda w: METRICS_DIR,
        davis=DAVIS_ROOT,
        out=lambda w, output: os.path.dirname(output.md),
        left_out=lambda w: table_left_out(w.number),
    shell:
        "lsevos tables --metrics {params.metrics} --gt-davis {params.davis} --tables {wildcards.number} "
        "--left-out '{params.left_out}' --out {params.out} --config-name {params.name} > {log} 2>&1"


rule metrics_summary:
    input:
        ALL_METRICS,
    output:
        f"{TABLES_DIR}/metrics.json",
    log:
        f"{RESULTS}/logs/tables/metrics_summary.log",
    conda:
        CONDA_ENV
    params:
        metrics=lambda w: METRICS_DIR,
        name=config["name"],
    shell:
        "lsevos metrics-summary --metrics {params.metrics} --config-name {params.name} "
        "--out {output} > {log} 2>&1"


rule figures:
    input:
        ALL_METRICS,
        data=lambda w: dataset_dependency(Namespace(dataset="davis")),
    output:
        attributes=report(
            f"{FIGURES_DIR}/attributes.png", caption="../report/attributes.rst", category="Figures"
        ),
        curves=report(f"{FIGURES_DIR}/per_frame_J.png", caption="../report/per_frame.rst", category="Figures"),
    log:
        f"{RESULTS}/logs/tables/figures.log",
    conda:
        CONDA_ENV
    params:
        metrics=lambda w: METRICS_DIR,
        davis=DAVIS_ROOT,
        out=lambda w, output: os.path.dirname(output.attributes),
    shell:
        "lsevos figures --metrics {params.metrics} --gt-davis {params.davis} --out {params.out} > {log} 2>&1"


rule qualitative_figure:
    input:
        data=dataset_dependency,
        scan=lambda w: plan.variant_output(config, w.dataset, w.seq, config["main_variant"]),
    output:
        report(
            f"{FIGURES_DIR}/qualitative/{{dataset}}_{{seq}}.png",
            caption="../report/qualitative.rst",
            category="Figures",
            subcategory="Qualitative",
        ),
    log:
        f"{RESULTS}/logs/tables/qualitative_{{dataset}}_{{seq}}.log",
    conda:
        CONDA_ENV
    params:
        frames=frames_dir,
        scan=lambda w: plan.variant_output(config, w.dataset, w.seq, config["main_variant"]),
    shell:
        "lsevos figure-qualitative --frames {params.frames} --masks {params.scan}/masks "
        "--boxes {params.scan}/boxes.json --out {output} > {log} 2>&1"


rule lse_figure:
    input:
        data=dataset_dependency,
        # The pretrained (stage-3) model of the sequence's fold: a persistent file, whereas the fine-tuned
        # checkpoints are temporary (a figure must not make `tables` retrain a finished chain).
        checkpoint=lambda w: f"{RESULTS}/pretrain/{FOLD_OF[w.seq]}/stage3.pt",
    output:
        report(
            f"{FIGURES_DIR}/lse/{{dataset}}_{{seq}}.png",
            caption="../report/lse.rst",
            category="Figures",
            subcategory="LSE",
        ),
    log:
        f"{RESULTS}/logs/tables/lse_{{dataset}}_{{seq}}.log",
    conda:
        CONDA_ENV
    params:
        frame=lambda w: f"{frames_dir(w)}/00000.jpg",
        first_mask=first_mask,
        settings=VIDEO_SETTINGS,
    shell:
        "lsevos figure-lse --frame {params.frame} --first-mask {params.first_mask} "
        "--checkpoint {input.checkpoint} --settings {params.settings:q} --out {output} > {log} 2>&1"


rule tables:
    input:
        [f"{TABLES_DIR}/table{number}.md" for number in TABLE_NUMBERS if table_inputs(number)],
        f"{TABLES_DIR}/metrics.json",
        rules.figures.output,
        [f"{FIGURES_DIR}/qualitative/{d}_{s}.png" for d, seqs in DATASETS.items() for s in seqs],
        FINAL_MASKS,
        [f"{FIGURES_DIR}/lse/{d}_{s}.png" for d, seqs in DATASETS.items() for s in seqs],
        expand(
            f"{RESULTS}/pretrain/{{fold}}/stage{{stage}}_losses.png", fold=FOLDS, stage=["1", "2", "3", "fp"]
        ),
