import sys

from llmledger.cli import main

if __name__ == "__main__":  # multiprocessing (spawn) re-imports this module in workers
    code = main()
    from llmledger.store import background

    if background.quiet_exit_wanted():  # serve-otlp: see background.exit_quietly
        background.exit_quietly(code)
    sys.exit(code)
