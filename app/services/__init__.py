"""The domain: plain functions over a database session, no Flask request objects, typed errors."""
