package store

import "context"

// LiveSessionsSQL lets the external tests plan the batched session check as the store runs it.
const LiveSessionsSQL = liveSessionsSQL

// KeepMinConns runs one round of the keeper of the connections kept open, as its ticker does.
func (s *Store) KeepMinConns(ctx context.Context) error { return s.keeper.keep(ctx) }
