"""DynamoDB store: one table, explicit item mapping, named conditional writes."""
