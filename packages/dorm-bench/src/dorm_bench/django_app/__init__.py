"""The Django app the benchmark installs when it configures Django outside a project."""
