"""python -m semiring_lrp: the semiring-lrp command."""
import sys

from .cli import main

sys.exit(main())
