"""Training: recorded environments rebuilt as virtualenvs, and distributed launches (torch elastic, Ray Train)."""
