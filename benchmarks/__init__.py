"""Benchmarks: printed as ratios against an anchor measured in the same run."""
