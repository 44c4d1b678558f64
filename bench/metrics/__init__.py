"""Image-quality metrics: the registry every table, plot and record reads them from, with the pixel
metrics of Table 1 (registry); the Inception Score's classifier (inception); FID and KID between feature
sets (fid_kid); LPIPS (lpips); and the offline feature networks behind them and the training loss
(features). A plugin registers a metric with `bench.metrics.register_metric`."""

from bench.metrics.registry import (
    Metric,
    all_metrics,
    available_metrics,
    register_cell_metric,
    register_metric,
)

__all__ = ["Metric", "all_metrics", "available_metrics", "register_cell_metric", "register_metric"]
