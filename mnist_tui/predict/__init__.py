"""`mnist predict`: the work (core), its terminal view (view), exported models back in."""
