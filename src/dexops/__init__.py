"""dexops: release-and-deploy automation for Python monorepos."""

__version__ = "0.1.0"
