// Which of $ids name an existing Customer (unknown-end check before a load writes).
UNWIND $ids AS id
MATCH (n:Customer {id: id})
RETURN collect(n.id) AS found
