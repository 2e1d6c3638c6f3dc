"""Video segmentation from a first-frame box, as in the paper.

- `boxes`: box from a mask, enlargement, crop to the network input, paste back;
- `tracker`: the model-agnostic zoom-in tracker (no file I/O);
- `scan_folder`: the scan folder and label folder formats on disk (the one module reading/writing them);
- `pseudo_labels`: the first-frame and scan-1 labelling rules;
- `inference`: the device, crop tensors and the predictor the scan uses;
- `training`: first-frame fine-tune and retraining on pseudo-labels (the training loops);
- `steps`: the file-to-file steps and the two-scan adaptation;
- `chain`: the workflow's chain of those steps in one resumable process (`lsevos adapt`);
- `variants`: the families and variants of Tables 1 and 2 as data;
- `crf`: dense CRF post-processing (extra `crf`);
- `overlay`: overlay videos; `settings`: `VideoSettings`; `commands`: the command line.
"""
