"""printscp: a virtual DICOM film printer (Basic Grayscale Print Management SCP)."""

__version__ = "0.1.0"
