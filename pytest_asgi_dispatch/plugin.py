"""pytest plugin: options and fixtures, wired to the library."""
