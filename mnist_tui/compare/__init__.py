"""`mnist compare`: runs side by side (core), the terminal view (view), the PNG (png)."""
