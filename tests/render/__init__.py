"""Tests of the graph drawings (nnspec/render)."""
