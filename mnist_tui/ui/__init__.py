"""Rich pieces commands share: heatmaps, progress, tables, plots. Plain data in, never tensors."""
