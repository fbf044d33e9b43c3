"""Executors: where a run's process executes (a local process group today; Slurm next).

:mod:`.base` is the contract, :mod:`.registry` the table of executors, :mod:`.local` the
local one. Part of the data layer: nothing here imports Textual or the store.
"""
