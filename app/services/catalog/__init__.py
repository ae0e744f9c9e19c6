"""Catalogue: what families can book and how the bus runs — its rules and its audited writes.

Owns: Establishment, Period, Week, TariffBracket, Circuit, Stop (app.models.catalog). Staff edit
them through generated screens; every write goes through `writes` so that a rule (a capacity under
what is already booked, incoherent dates, overlapping tariff brackets, a booked week deleted) is
refused with a French message, and every accepted change is audited with its before/after state in
the same transaction as the change itself (DESIGN.md §3.7).

May call: booking (read-only: the capacity counting of weeks and circuit × week buckets and its
locks), household, and the shared modules. Never payments or operations, which sit above it.
"""
