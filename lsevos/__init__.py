"""lse-vos: video object segmentation by learning location-sensitive embeddings (ECCV 2018).

Python API (`lsevos.video.segmenter`): `Segmenter.load(checkpoint).segment(frames, boxes={1: box})`.
"""

__version__ = "0.1.0"
__all__ = ["Segmentation", "Segmenter", "__version__"]


def __getattr__(name: str):
    """`lsevos.Segmenter` and `lsevos.Segmentation`, imported on first use (the command line and the
    workflow import `lsevos` without torch)."""
    if name in ("Segmenter", "Segmentation"):
        from lsevos.video import segmenter

        return getattr(segmenter, name)
    raise AttributeError(f"module 'lsevos' has no attribute {name!r}")
