"""Meta WhatsApp Cloud API adapter (pure)."""
