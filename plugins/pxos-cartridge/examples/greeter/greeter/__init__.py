"""greeter: a package that runs from a .pxa pixel archive."""

from .words import greeting

__all__ = ["greeting"]
