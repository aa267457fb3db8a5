"""The loop (emits events only), one `mnist train` end to end, events, reporters."""
