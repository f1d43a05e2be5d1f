"""DataEngineX release and deploy tasks: the dexops namespace for this repository."""

from dexops.tasks import namespace

ns = namespace()
