"""What the API asks of the pipeline: record a request, read its state. Routes call these; Dagster does the work."""
