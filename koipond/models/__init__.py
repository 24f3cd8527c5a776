"""Domain models: what koipond knows, independent of wire and storage shapes."""
