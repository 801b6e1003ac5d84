"""The background engine: one process per state dir that every shell attaches to.

``protocol`` says what crosses the socket and where it lives; ``server`` runs an
Engine behind it; ``client`` is the EngineAPI that front ends use to reach it;
``spawn`` starts one when none runs.
"""
