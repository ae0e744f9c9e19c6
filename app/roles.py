"""The portal's role names, shared by the security matrix, the demo data and the services."""

ADMIN, STAFF, PARENT = "Admin", "Staff", "Parent"
