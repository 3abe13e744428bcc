"""Ready-made checks for healthkit.

Each module holds factories that return ordinary check callables, to be registered with
``healthkit.Check`` like any hand-written check. This package imports nothing: a module that
needs a driver imports it when used and says which extra installs it when it is missing.
"""
