// Package action runs what inbound rules do. Validate checks an action
// before it is stored, Listens says which triggers a rule hears, and
// Render fills an action's templates in from a trigger's document; the
// HTTP API uses them, and so does the Runner. The user-facing reference is
// docs/ACTIONS.md.
//
// # The runner
//
// A Runner has two loops. The matcher claims unprocessed triggers
// (InboundStore.ClaimTriggers, leased), reads each tenant's enabled rules
// (cached for a second, criteria compiled once per rule version), and for
// every rule that listens and whose criteria hold renders the action into
// a run; ProcessTrigger stores the runs and marks the trigger processed in
// one transaction. A rule whose criteria or templates fail gives a failed
// run carrying the error, so no trigger is lost silently.
//
// The executor claims due runs (ClaimRuns), executes them on a bounded
// pool of workers, renews the leases of what it holds every Lease/3
// (ExtendRuns) and records outcomes in batches (CompleteRuns):
//
//   - publish stores one event with the idempotency key "run:"+run id;
//   - forward POSTs the trigger's body to the rendered URL through the
//     guarded HTTP client and is retried per its schedule;
//   - command runs a program without a shell (or /bin/sh -c when asked),
//     with only PATH, HOME and the action's env, in a process group that
//     is killed at the timeout; it is never retried.
//
// Command runs of one rule are limited per node (Action.Concurrency,
// default 1). Runs over the limit stay claimed by the node, leases renewed,
// and start in claim order as slots free: ClaimRuns cannot leave some rules
// out, and putting a run back would count an attempt it never made. A
// burst of one slow rule's runs can therefore hold up to Workers+Batch of
// the node's slots until it drains.
//
// # At-least-once
//
// A node that dies during a run leaves it leased; once the lease expires,
// any node claims and executes it again. A publish then finds its first
// event by the idempotency key and publishes nothing new; a forward or a
// command may happen twice. On shutdown the runner puts back runs it had
// not started, gives runs in progress ShutdownGrace, then stops them
// without recording, so they too run again after their leases expire.
package action
