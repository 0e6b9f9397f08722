package store

// LiveSessionsSQL lets the external tests plan the batched session check as the store runs it.
const LiveSessionsSQL = liveSessionsSQL
