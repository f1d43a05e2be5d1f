"""The end-to-end demo of a dexops checkout: the example's pipeline in a sandbox."""
