"""dse: design-space exploration of tiny integer-only neural-network controllers for FPGAs.

This package holds the command line and, as the search grows, the study, its
strategies, the executor and the reports. It builds on ``training``,
``synthesis``, ``objectives`` and ``search_spaces`` and is the only package that
knows them all.
"""
