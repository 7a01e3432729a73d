import sys

from trn.runner.main import main
from trn.runner.shutdown import exit_process

exit_process(main(sys.argv[1:]))
