"""Drills: long, seeded runs of a whole local pond under faults, checking its invariants as it goes."""
