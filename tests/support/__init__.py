"""What the tests build on, in one place, so a new test file does not grow its own copy.

- apps:        TEST_OVERRIDES, build_app (fresh schema + roles), truncate_all, unavailable (skip or fail in CI)
- db:          call (run a service in its own app context); why no test calls db.session.remove()
- factories:   Factory (accounts, households, catalogue) returning plain ids, PASSWORD
- clients:     login (form), jwt_headers (API)
- payments:    baskets with held lines, lapsed holds, full weeks, a basket's state; re-exports stripe_fake
- stripe_fake: FakeStripe (stripe-python's HTTP transport), signed webhook events, use_stripe

tests/conftest.py turns these into fixtures (app, factory, login, pg_app…).
"""
