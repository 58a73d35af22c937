"""Printed films on disk."""
