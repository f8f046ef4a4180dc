"""``python -m avalanche_featadapt.compare ARGS`` is ``featadapt compare ARGS``
(``./run.sh compare`` calls it)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(["compare"] + sys.argv[1:]))
