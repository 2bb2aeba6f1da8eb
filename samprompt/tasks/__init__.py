"""Task recipes: how a batch of dataset items becomes prompts, a loss and metrics."""
