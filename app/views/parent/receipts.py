"""Not built yet."""


def register(appbuilder) -> None:
    """Register this module's views on `appbuilder`."""
