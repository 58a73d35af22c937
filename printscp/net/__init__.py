"""The thin network layer: pynetdicom in, engine calls, DIMSE responses out."""
