import sys

from llmledger.cli import main

if __name__ == "__main__":  # multiprocessing (spawn) re-imports this module in workers
    sys.exit(main())
