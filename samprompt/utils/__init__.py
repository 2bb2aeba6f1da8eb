"""Small helpers shared across samprompt."""
