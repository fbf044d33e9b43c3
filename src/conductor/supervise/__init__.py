"""How ``run-agent task`` processes start: a thin client and a pre-imported fork server.

:mod:`.client` is what ``run-agent task`` runs first; it imports only builtin modules and hands
its argv, environment, working directory, umask and stdin/stdout/stderr to :mod:`.server`,
which forks a full supervisor for it (docs/runner.md, "How task processes start"). Nothing is
imported here, so the client stays cheap.
"""
