"""The per-campaign report: `facts` (definitions and aggregation SQL), `report` (the report built from them),
`rollups` (the only writes), `export` (attempt lists and the contacts CSV)."""
