import sys

from vodstack.cli import main

sys.exit(main())
