"""The candidate a search proposes: hidden width, core/input/output bits and folding, with their ranges.

Filled by the search issue; training takes its own ``PolicyConfig`` and never imports this package.
"""
