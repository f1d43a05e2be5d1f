"""dexops' own invoke tasks: the dexops namespace, configured for this repository."""

from dexops.tasks import namespace

ns = namespace()
