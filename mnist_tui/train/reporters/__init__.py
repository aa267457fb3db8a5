"""Subscribers that show a run: plain lines, the live dashboard, TensorBoard."""
