"""Productions for regulators and review platforms: the bundle, transcripts and RSMF (pure)."""
