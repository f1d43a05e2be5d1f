"""Workflows: each plans (pure), then applies, then verifies."""
