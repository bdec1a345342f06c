"""Training: configs, streamed data sources, the trainer and run directories."""
