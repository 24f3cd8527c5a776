"""Token pipeline Lambdas: the SQS batch worker and the scheduled renewal of expiring tokens."""
