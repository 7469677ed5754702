"""The ``swiftcast`` sub-commands, one module each: the command's options and a thin ``main`` over library calls.

Every module provides

    add_arguments(parser: argparse.ArgumentParser) -> None
    main(args: argparse.Namespace) -> int | None

and imports nothing heavy at module level (torch, models, renderers load inside ``main``, or inside
``add_arguments`` where an option's choices come from such a module), so a command's ``--help`` stays cheap and
``swiftcast --help`` imports none of them. The work lives in the library packages; what stays here is what only a
command line needs: option names and help texts, the command line a run records, and what is printed.
"""
