// Package loadgen is walletgate's load tool (`walletgate loadgen`): it replays signed switch messages built from the
// seed's sample requests against a running walletgate and reports throughput, latency percentiles from an
// HdrHistogram, the response-code mix, and a conservation check through the admin API.
//
// # What it sends
//
// Every message is the seed's successful debit sample (testdata/seed/debit_approved.json) with a unique requestId,
// transactionReference, RRN and STAN, signed with the switch's MAC key. A Mix weighs the kinds of message:
// approvals, insufficient funds, exact replays of answered messages, full reversals of approved debits, and
// enquiries (CONTRACT 1.8; off by default). The load spreads over wallets that Run creates and funds through the
// admin API, or over existing ones.
//
// # Promises
//
// A request in flight is never cancelled: at the end of the duration loadgen stops sending and waits for every
// answer, so the outcome of each message is known. A message that got no readable answer (a transport error, a
// 5xx) is looked up through GET /admin/transactions before the conservation check, which then holds exactly:
// the wallets' total fell by the approved debits minus the reversals, and GET /admin/audit is green.
//
// # The ceiling
//
// On a shared machine absolute figures are noise. With Config.CeilingRounds, Run also serves CeilingHandler — an
// Echo router that only decodes the same JSON and answers — in the same process, and loads it and walletgate in
// alternating rounds: the ratios of walletgate's throughput and p99 to the ceiling's are the figures to compare.
//
// The package lives outside cmd/walletgate because the populate builder (the 1M-wallet fixture) and the tests
// drive the same message builder as the command, and a load tool is worth importing from other tools.
package loadgen
