"""``python -m deployer.cli``: the same as the ``deployer`` console command."""
import sys

from deployer.cli.main import main

sys.exit(main())
