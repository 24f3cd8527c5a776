"""Services: the decisions and workflows of koipond, pure where they can be."""
