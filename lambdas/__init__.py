"""Lambda functions: thin entry points over the koipond core."""
