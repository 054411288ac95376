"""One module per screen; each reads through admin/ in worker threads."""
