"""`mnist sweep`: search space, study and storage, workers, live view and report."""
