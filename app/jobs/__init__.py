"""RQ job functions (thin: open an app context, call a service) and queue helpers."""
