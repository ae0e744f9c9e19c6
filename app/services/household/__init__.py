"""The household: accounts, the family file (guardians, children, health), documents, the checklist
of what is missing, the links between a child and its households, and staff review of files.

Owns: Household, Guardian, Child, HouseholdChild, Document, AuthorizedPickup (app.models.household).
May call: the shared modules (audit, errors, mail, localize, tasks, transactions). Never booking,
payments or operations: they call this package, not the reverse.
"""
