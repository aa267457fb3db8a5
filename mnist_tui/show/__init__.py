"""`mnist show RUN`: one run's whole story."""
