"""Admin core shared by the `wa-archive` commands and the TUI: reads through storage/."""
