"""The shipped routing policies (YAML files), installed as the package data of router.policies."""
