"""Evaluation: test-set readers, overlap and perplexity analysis, reports."""
