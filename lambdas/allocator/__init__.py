"""The allocator Lambda: loops allocation passes under the DynamoDB lease, restarted every minute by a schedule."""
