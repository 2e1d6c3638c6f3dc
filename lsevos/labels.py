"""Label values shared by every label map of the project (training instances, pseudo-labels, VOC void)."""

IGNORE = 255
"""Pixels no loss counts: VOC's void band, padding of training crops, uncertain pseudo-labels."""
