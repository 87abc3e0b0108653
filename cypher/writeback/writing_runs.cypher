// Other runs of one kind still marked 'writing', and who wrote them (host:pid:nonce), so
// the next run can mark those whose writer died as 'interrupted'. $kind, $run_id
MATCH (m:ModelRun)
WHERE m.status = 'writing' AND m.kind = $kind AND m.run_id <> $run_id
RETURN m.run_id AS run_id, m.writer AS writer
