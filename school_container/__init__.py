"""A School: a long-running asyncio process that polls the Keeper and runs its share of koi."""
