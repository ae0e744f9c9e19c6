"""The portal's role names, shared by the security matrix, the demo data and the services."""

ADMIN, STAFF, PARENT = "Admin", "Staff", "Parent"

# Staff on the ground (issue 18): the day's lists of the establishments and circuits assigned to them, nothing else.
ANIMATOR = "Animateur"
