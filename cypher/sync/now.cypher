// The database's clock: watermarks compare with loaded_at/updated_at the loaders set
// from it, so the sync never mixes in the client machine's clock.
RETURN datetime() AS now
