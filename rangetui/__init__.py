"""rangetui: a terminal download manager with parallel Range connections and exact resume."""

__version__ = "0.1.0"
