"""Booking: who may book what (eligibility), places and seats left (capacity, the one primitive),
the basket and its holds, prices, stop changes; later the waiting list, allocation and cancellation.

Owns: Basket, Reservation (app.models.booking) and the counting of capacity buckets
(week, circuit × week).
May call: household (is the file validated, is the child linked) and the shared modules.
Never payments or operations (the expiry of a basket in checkout asks payments through a hook that
payments registers).
"""
