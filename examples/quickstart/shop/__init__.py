"""The demo's app: its models are in shop/models.py, its migrations are written by the demo."""
