"""Widgets shared by the admin screens."""
