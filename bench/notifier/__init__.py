"""GTR clock benchmark: vigie's deadlines against the ``businesstimedelta`` package."""
