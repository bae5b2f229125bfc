"""Testing utilities that ship with the package (standard library only)."""
