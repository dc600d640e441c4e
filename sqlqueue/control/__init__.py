"""The control plane: pools, flavors, the catalogue and health, for the admin API and the CLI.

``base`` holds the interfaces the transport sees; ``admin``, ``pools`` and
``flavors`` implement them over the storage layer (the catalogue database's
control driver and the pooled queue store).
"""
