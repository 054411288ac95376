"""Pure core of the archive: no Azure SDK, no Textual, no I/O, no env or clock reads."""
