// Which of $ids name an existing Category (unknown-end check before a load writes).
UNWIND $ids AS id
MATCH (n:Category {id: id})
RETURN collect(n.id) AS found
