"""slugkit release tasks: the dexops namespace for this repository."""

import sys

from dexops.tasks import namespace

# Only the tasks the command line names are built (see dexops.tasks.namespace).
ns = namespace(sys.argv[1:])
