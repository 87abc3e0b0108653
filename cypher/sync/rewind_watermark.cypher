// Move the watermark back to $watermark when it is later, only while we hold the lock:
// predictions scored from the graph as read at $watermark are about to be written, and
// whatever changed after that time must be rescored by the next sync.
// $name, $holder, $watermark (datetime), $run_id
MATCH (s:SyncState {name: $name})
WHERE s.lock_holder = $holder AND s.watermark > $watermark
SET s.watermark = $watermark,
    s.rewound_by = $run_id,
    s.rewound_at = datetime()
RETURN count(s) AS rewound
