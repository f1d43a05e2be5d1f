"""dexops' own invoke tasks: the dexops namespace, configured for this repository."""

import sys

from dexops.tasks import namespace

# Only the tasks the command line names are built (see dexops.tasks.namespace); the demo
# runs on this checkout's examples/, so only this tasks.py offers it.
ns = namespace(sys.argv[1:], demo=True)
