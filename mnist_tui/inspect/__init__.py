"""`mnist inspect`: the work (core), probing a model (probe), its view and its pictures."""
