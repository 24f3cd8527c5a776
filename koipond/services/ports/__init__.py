"""Ports: the Protocols services depend on; adapters in koipond/store (DynamoDB) and koipond/memory implement them."""
