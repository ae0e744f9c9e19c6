"""Operations: what staff do on the day and at the desk — rosters, bus lists, occupancy, takings,
CSV exports, moving and cancelling reservations, booking and taking payment at the desk;
later attendance.

Owns no table of its own: it reads booking, household and payments data.
May call: booking, household, payments and the shared modules. Nothing calls operations but the
views, the API, the jobs and the CLI.
"""
