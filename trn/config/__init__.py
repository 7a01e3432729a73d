"""Compose (Hydra), validate (JSON Schema) and explain configs."""
