"""YAML configurations shipped with the package (found through the package, not the cwd)."""
