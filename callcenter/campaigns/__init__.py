"""Outbound retention campaigns: the churn score, the campaign service and the dialer."""
