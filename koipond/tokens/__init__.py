"""Users' tokens: jobs, plans, batches, minting, and their storage (DynamoDB, SQS, S3)."""
