"""foldlite's version, in a module of its own so any module can read it without importing the
package facade (foldlite/__init__.py lazily imports the API, which would close an import cycle)."""
__version__ = "0.1.0"
