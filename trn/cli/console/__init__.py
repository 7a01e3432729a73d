"""What a person watching a job or a sweep sees in a terminal.

:mod:`trn.cli.console.state` folds events into what is worth showing (no third-party imports);
:mod:`trn.cli.console.run_view` and :mod:`trn.cli.console.sweep_view` draw it live with rich, which is
imported only there, so read commands that print plain text never pay for it.
"""
