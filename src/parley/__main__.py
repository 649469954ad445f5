"""``python -m parley``: the command line, as the ``parley`` script runs it."""

from parley.cli.launch import run

if __name__ == "__main__":
    run()
