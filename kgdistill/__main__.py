import sys

from kgdistill.cli import main

sys.exit(main())
