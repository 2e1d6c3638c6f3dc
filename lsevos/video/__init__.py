"""Video segmentation from a box, as in the paper. The modules, by what they are for:

The API (start here): `segmenter` (`lsevos.Segmenter`: load a model once, segment frames from a folder,
a video file, a list of arrays or a generator; save the CLI's outputs).

The algorithm, in memory, no file I/O:
- `tracker`: the model-agnostic zoom-in tracker (search boxes, guards, recovery);
- `boxes`: box from a mask, enlargement, crop to the network input, paste back;
- `inference`: the device, crop tensors and the predictor the tracker calls; `saliency`: its prior;
- `pseudo_labels`: the first-frame and scan-1 labelling rules;
- `training`: the training loops: first-frame fine-tune, retraining on pseudo-labels, crop samplers;
- `adaptation`: the core: `Adaptation` (family, settings, progress), `Prompt`, fine-tune -> scan 1 ->
  pseudo-labels -> retrain -> scan 2 on one object (`two_scan`), scans kept in scratch files;
- `frames`: frame sources (folder, video, arrays, generator) and the per-frame map store;
- `objects`: several objects: their boxes and masks as given, the per-pixel merge.

Files at the edges:
- `scan_folder`: the scan folder and label folder formats (the one module reading and writing them);
- `steps`: the single-step commands' file-to-file steps (`lsevos finetune`, `scan`, `retrain`);
- `chain`: the runner: the workflow's chain in one resumable process (`lsevos adapt`);
- `commands`: the command line; `model_file`: which model `lsevos segment` uses, `lsevos package-model`.

Outputs: `overlay` (overlay video, RGBA cut-outs), `lse_figure` (Fig. 4 picture), `crf` (dense CRF);
`draw_boxes`: drawing the boxes on a frame. Configuration: `settings` (`VideoSettings`), `variants` (the
families and variants of Tables 1 and 2).
"""
