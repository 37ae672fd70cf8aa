"""CRM services on top of the store: phone normalisation, customer input validation, CSV
import and export, and GDPR (recording files, erasure, retention). No SQL here."""
