import sys

from fastprune.cli import main

sys.exit(main())
