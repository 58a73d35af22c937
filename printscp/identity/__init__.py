"""Whose film is it: the patient identity of a print job, from the SCU's data, a modality worklist, a PACS,
OCR of burnt-in text, or a person (issue 16)."""
