"""Model evaluation: metrics per task and per slice, comparison with a baseline, a gate that
writes a blessing, plots, explanations, and a model's history across versions and pipeline runs."""
