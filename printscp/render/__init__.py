"""Rendering: a FilmSnapshot in, the film as PDF and PNG bytes out. Sees only immutable snapshots."""
