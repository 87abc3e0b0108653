// The Graph Data Science library's version (also proves that GDS is installed).
RETURN gds.version() AS version
