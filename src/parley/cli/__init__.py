"""The ``parley`` command line (Typer + Rich). Errors become exit codes in ``main.main`` only."""
