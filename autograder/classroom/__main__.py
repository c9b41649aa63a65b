"""``python -m autograder.classroom``: rewrite classroom.yml from the catalogue."""

import sys

from autograder.classroom import main

sys.exit(main())
