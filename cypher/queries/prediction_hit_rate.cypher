// How well predictions did: of the recommendations of a run (or scored in a time window),
// how many did the customer then interact with on the outcome day(s). Computed in the
// database, one row per run. A new run replaces a customer's recommendations, so evaluate
// a run before the next sync rescores its customers (or pass the run_id of the survivors).
//
// $day          first outcome day (int YYYYMMDD), e.g. the day after scoring
// $until_day    (optional) last outcome day, inclusive; default $day
// $run_id       (optional) only this run's predictions
// $scored_from  (optional) only predictions scored at or after this ISO datetime
// $scored_to    (optional) only predictions scored before this ISO datetime
// $interaction  (optional) count only this interaction type (e.g. BOUGHT); default any
// $max_rank     (optional) only the top this many of each customer (hit rate at K)
//
// Example: kgdistill query prediction_hit_rate --param day=20260102 --param interaction=BOUGHT
MATCH (c:Customer)-[r:{{recommended}}]->(p:Product)
WHERE ($run_id IS NULL OR r.run_id = $run_id)
  AND ($scored_from IS NULL OR r.scored_at >= datetime($scored_from))
  AND ($scored_to IS NULL OR r.scored_at < datetime($scored_to))
  AND ($max_rank IS NULL OR r.rank <= $max_rank)
WITH r, c, EXISTS {
  MATCH (c)-[i]->(p)
  WHERE type(i) IN ['CLICKED', 'FAVORITED', 'ADDED_TO_CART', 'BOUGHT']
    AND ($interaction IS NULL OR type(i) = $interaction)
    AND i.day >= $day AND i.day <= coalesce($until_day, $day)
} AS hit
WITH r.run_id AS run_id, r.model AS model, c, count(r) AS predictions,
     sum(CASE WHEN hit THEN 1 ELSE 0 END) AS hits
RETURN run_id, model, count(c) AS customers, sum(predictions) AS predictions,
       sum(hits) AS hits, round(toFloat(sum(hits)) / sum(predictions), 4) AS hit_rate,
       round(toFloat(sum(CASE WHEN hits > 0 THEN 1 ELSE 0 END)) / count(c), 4) AS customer_hit_rate
ORDER BY run_id
