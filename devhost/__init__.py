"""Local Functions + Durable runtime over Azurite (see README, "Local runtime")."""
