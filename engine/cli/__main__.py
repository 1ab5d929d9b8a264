import sys

from engine.cli.entry import main

sys.exit(main())
