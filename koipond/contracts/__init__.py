"""Wire models shared by the Keeper and its clients."""
