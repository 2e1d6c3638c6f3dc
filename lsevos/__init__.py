"""lse-vos: video object segmentation by learning location-sensitive embeddings (ECCV 2018)."""

__version__ = "0.1.0"
