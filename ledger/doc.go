// Package ledger is walletgate's embedded double-entry ledger on bbolt. It is the only package that imports bbolt.
//
// # Promises
//
// Money: balances are int64 minor units. Every movement is one journal entry whose postings sum to zero, written in
// the same bbolt transaction as the balances it changes, the statement lines and the idempotency records that
// describe it. A movement that would overflow any balance is declined (ErrOverflow), never wrapped.
//
// Durability: every write goes through one writer goroutine (group commit). The writer takes everything queued,
// decides each operation in order inside one read-write transaction against the latest state (including the
// operations before it in the same batch), commits with fsync, and only then returns to the callers. A caller
// that got an answer therefore holds a durable outcome. NoSync is never set.
//
// Wallet records: a commit appends the wallet records its batch changed to the wallet log, in the same transaction
// as the journal entries they reflect, instead of rewriting them in the wallets bucket (a random page of a large
// tree for every debit); the wallets bucket catches up in rounds, and a wallet's record is its newest log value if
// it has one. Open rebuilds the log's pending records; read transactions see them as of their own batch
// (walletlog.go).
//
// Idempotency: a switch message is remembered under its requestId (fingerprint plus the exact response bytes the
// caller rendered inside the transaction) and under its transactionReference (the transaction and its decision).
// A repeated requestId returns the stored bytes; a repeated transactionReference is never executed twice. Replay
// answers exact repeats from a read-only transaction, without entering the writer, but only once the record's
// batch is known to be fsync'd.
//
// Holds: a wallet's available balance is Balance - Held, and debits, place-liens and enquiries all decide against
// it. Held is a sum of holds of several kinds; each kind adds and subtracts only its own amounts. A lien (PlaceLien)
// holds amount + fee until its lien debit (DebitLien) completes or releases it, or until its time to live runs out
// (Options.LienTTL): then the ledger's sweeper releases it through the writer. Placing and releasing are journaled
// as memo entries without postings; completing is a balanced entry like a debit.
//
// Enquire reads a wallet in a read-only transaction and never waits for the writer. Its answer is remembered under
// its requestId like any switch message's, by a write handed to the writer without waiting; until that write is
// durable the record is kept in memory, where repeats and the writer's requestId check find it. A crash before that
// commit forgets the enquiry (it moved nothing).
//
// Failures: when a write fails before the commit point, nothing is applied and every operation of the batch gets
// ErrStorage. When bbolt reports a failed commit whose meta page may already be written, the outcome is unknown:
// the operations get ErrOutcomeUnknown and the ledger refuses further writes until it is reopened.
//
// Readiness: Ready reports ErrStorage while commits fail and nil again once a write succeeds. After a failed commit
// it confirms with a probe write of its own: a scratch value one page larger than all the file's free and pending
// pages (at least 4 pages, at most 4 MiB), which bbolt must place past the file's high-water mark, so that on a full
// disk the probe fails as the real commits do; a second commit deletes the value and its pages go back to the
// freelist. The probe runs only while commits fail, so a healthy ledger never grows for it. A probe cannot prove
// that every real batch fits (one larger than 4 MiB, or a fault that hits only some pages): when a real commit fails
// although a probe succeeded since the last successful real commit, Ready reports ErrStorage without probing until
// ReadyHold has passed since the last real failure. Without traffic it then probes again, so readiness comes back on
// its own once the fault is gone; a real commit that succeeds clears everything at once.
//
// Files: only a missing file becomes a new ledger. Open refuses, and never writes to, a file that is not a bbolt
// database (an error), a bbolt database without walletgate's format marker (ErrNotLedger), or a damaged one: empty
// (0 bytes), shorter than its meta page says, or failing bbolt's consistency check (ErrCorrupt). A file held by
// another process fails after Options.OpenTimeout. OpenContext gives up when its context ends before the first
// write, also in the middle of the consistency check (minutes on a large file), with nothing written.
//
// Outbox: with Options.Route set, every new switch decision that partners must hear about (a debit approved or
// declined, a reversal that moved money, a lien debit that moved money or was declined) writes one outbox record
// per partner the route names, in the same transaction as the decision: the record exists if and only if the
// decision committed. OutboxHeads hands out only records whose batch is known to be durable; RecordDelivery and
// RetryOutbox go through the writer. Replays and repeated references never enqueue again.
//
// BestCash: top-ups and cash-outs are state machines idempotent on their reference; their money moves against
// the per-currency system account "bestcash:<currency>", and a cash-out holds its amount (Held) until settled.
//
// Ownership: byte slices returned by the ledger are copies owned by the caller; bbolt memory never leaves the
// package. All methods are safe for concurrent use.
package ledger
