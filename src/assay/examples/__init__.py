"""Example applications that ship with Assay, so that ``assay demo`` can drive one from an
installed package as well as from the repository."""
