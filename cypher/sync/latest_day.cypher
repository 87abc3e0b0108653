// The latest interaction day of one type (int YYYYMMDD), to place "recent" in the data's time.
MATCH ()-[i:{{rel}}]->()
RETURN max(i.day) AS day
