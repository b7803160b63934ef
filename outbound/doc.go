// Package outbound talks to walletgate's partners: BestCash mobile money (seeds 000 and 004), the core-banking
// virtual-account API (seed 001) and the payment platform connector's push API (seed 003). It is the only place
// where minor units become decimal major units (currency.go, one ISO 4217 table, shopspring/decimal).
//
// # Clients
//
// There is one client type per partner (BestCash, VirtualAccount, Connector). Each takes an injected *http.Client
// (the caller owns its Timeout and Transport), a base URL, the partner's credentials and an optional *Metrics.
// Every call takes a context first and honours both the context and the client's timeout; every call records
// walletgate_partner_request_duration_seconds{partner,operation,outcome}. The clients are safe for concurrent use
// and hold no state between calls: idempotency comes from the references we send (a connector transactionId, a
// virtual-account transactionReference, a BestCash partnerReference are always our own reference).
//
// # Errors
//
// A call returns nil on success. Every failure that reached (or tried to reach) the partner, and every request
// refused before sending for a missing field, is a *PartnerError;
// its Error text names the partner, the operation, the HTTP status and the partner's code and message, and never
// a credential (API keys, secrets, tokens and passwords are masked even when the partner echoes them).
//
//   - IsPermanent(err) is true when the partner refused the content (HTTP 400/413/422, connector MISSING_FIELDS
//     or INVALID_DATA, a virtual-account "success": false) or when the request cannot be built (unsupported
//     currency, amount not representable): sending it again cannot succeed, so it must be dead-lettered.
//   - ErrAuth (HTTP 401/403) is retryable: credentials are a configuration problem that an operator fixes.
//   - Transport errors, timeouts, dropped connections, redirects (never followed: they would carry the
//     credentials elsewhere), 5xx and bodies that cannot be understood are retryable (ErrUnavailable).
//   - ErrConfirmationRejected (a wrong BestCash confirmation code) and connector INVALID_REFERENCE are
//     refusals that may pass later: not permanent.
//   - ErrCustomerNotFound and ErrOperationNotFound are typed results of BestCash (HTTP 404), not failures of the
//     transport; the caller decides what they mean for its flow.
//   - A connector DUPLICATE_ID answer means the event was delivered before: the call returns nil.
//
// # Simulator
//
// NewSimulator returns an in-process stand-in for all three partners (used by `walletgate demo --partners` and
// by end-to-end tests); see Simulator.
package outbound
