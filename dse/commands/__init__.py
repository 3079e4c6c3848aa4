"""The subcommands of ``dse``, one module per kind of work; each module's ``register`` adds its parsers."""

from dse.commands import analysis, hardware, study, train

GROUPS = (train, hardware, study, analysis)
"""in the order ``dse --help`` lists them"""
