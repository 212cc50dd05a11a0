// Package jobs owns background work: River workers and periodic jobs, and the
// LISTEN/NOTIFY listener that keeps every node's in-memory state current.
package jobs
