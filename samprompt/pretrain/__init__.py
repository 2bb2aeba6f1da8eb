"""Scripts that reproduce the small models the package ships (see docs/models.md)."""
