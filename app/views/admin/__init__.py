"""Admin-only screens of the portal (app/security.py classifies this package as Admin's alone)."""
