"""``python -m numpynet``: the command line (see ``numpynet.cli``)."""

from .cli import main

raise SystemExit(main())
