"""One module per outside system; each owns its I/O."""
