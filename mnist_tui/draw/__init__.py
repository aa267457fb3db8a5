"""`mnist draw`: draw a digit with the mouse and watch the network read it, live.

sketch (strokes -> ink grid, numpy), model (which model reads: run, export, untrained),
reading (imaging's preparation + one forward pass), view (Rich panels from plain data),
canvas (the Textual widget), saving (the PNG), app (the Textual app).
"""
