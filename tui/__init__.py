"""Textual admin app over the admin/ core. Never imports azure.functions."""
