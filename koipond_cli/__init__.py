"""The ``koipond`` command line: pond processes and client verbs."""
