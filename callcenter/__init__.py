"""callcenter: a self-hosted contact-center server driven by Asterisk's Manager Interface."""

__version__ = "0.1.0"
