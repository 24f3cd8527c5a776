"""The AWS CDK app of koipond: one construct per concern."""
