"""sqlqueue: a Zaqar-compatible message-queuing service on a relational database."""

__version__ = "0.1.0"
