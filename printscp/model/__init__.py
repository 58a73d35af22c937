"""The print domain: plain objects with no network, imaging or storage IO."""
