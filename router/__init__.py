"""hybrid-router: answer on the device when you can, forward the rest to the cloud."""

__version__ = "0.1.0"
