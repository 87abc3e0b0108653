// How many nodes the database holds (from the count store: no scan). A bulk first
// load (kgdistill load ... --bulk) refuses a database that holds any.
MATCH (n)
RETURN count(n) AS n
