// Which of $ids name an existing Product (unknown-end check before a load writes).
UNWIND $ids AS id
MATCH (n:Product {id: id})
RETURN collect(n.id) AS found
