"""`mnist eval`: the work (core), its terminal view (view), its pictures (png), ensembles."""
