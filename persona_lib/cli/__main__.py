"""``python -m persona_lib.cli``: the same as the ``persona-eval`` command."""

import sys

from persona_lib.cli import main

sys.exit(main())
