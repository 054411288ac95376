"""The `wa-archive` console script."""
