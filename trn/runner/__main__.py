import sys

from trn.runner.main import main

raise SystemExit(main(sys.argv[1:]))
