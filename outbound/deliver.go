package outbound

import (
	"context"
	"fmt"
	"strings"

	"github.com/walletgate/walletgate/ledger"
	"github.com/walletgate/walletgate/respcodes"
)

// Route returns the ledger's outbox route for the partners that are configured (CONTRACT 5): the connector
// receives every debit and lien debit decision (approved and declined) and every reversal event (the ledger emits
// reversal and lien debit events only when money moved or a lien debit was declined, never for a place-lien or a
// release); the virtual account receives approved movements of wallets that carry a virtualAccountId. BestCash receives nothing through the outbox: top-ups and cash-outs call it directly.
func Route(connector, virtualAccount bool) ledger.Route {
	return func(e ledger.Event) []string {
		var out []string
		if connector {
			out = append(out, PartnerConnector)
		}
		if virtualAccount && e.VirtualAccountID != "" && e.Approved() {
			out = append(out, PartnerVirtualAccount)
		}
		return out
	}
}

// Deliverer delivers one outbox event to its partner. It returns nil once the partner has the event (a partner
// that answers "already have it" counts), an error for which IsPermanent is true when sending it again cannot
// succeed, any other error to be retried later. It must honour ctx.
type Deliverer interface {
	Deliver(ctx context.Context, e ledger.OutboxEvent) error
}

// ConnectorAPI is what ConnectorDeliverer needs of the connector client (*Connector implements it).
type ConnectorAPI interface {
	Debit(ctx context.Context, p Push) error
	Void(ctx context.Context, p Push) error
	Refund(ctx context.Context, p Push) error
}

// ConnectorDeliverer turns outbox events into connector pushes: a debit or lien debit decision into /debit
// (approved: success; declined: failed with our response code), a full reversal into /void, a partial one into
// /refund, both naming the debit in referenceTransactionId.
type ConnectorDeliverer struct{ Client ConnectorAPI }

// reversalSuffix distinguished a reversal's transactionId, before the ledger stored delivery ids, when the switch
// reused the debit's reference for it. Only events enqueued before then (DeliveryID empty) still use it; the
// ledger reserves those ids so that no newer event is given one of them.
const reversalSuffix = "-rev"

// deliveryID is the id a partner knows e by: the one the ledger chose at enqueue, unique per partner (our
// transactionReference whenever it was free). Events enqueued before delivery ids were stored fall back to the
// reference.
func deliveryID(e ledger.OutboxEvent) string {
	if e.DeliveryID != "" {
		return e.DeliveryID
	}
	return e.Reference
}

// Deliver implements Deliverer.
func (d ConnectorDeliverer) Deliver(ctx context.Context, e ledger.OutboxEvent) error {
	p := Push{TransactionID: deliveryID(e), Currency: e.Currency, Amount: e.Amount, Approved: e.Approved(),
		WalletID: e.WalletID, Time: e.Time}
	if det := e.Details; det != nil {
		p.MerchantID, p.TerminalID, p.CardAcceptor, p.RRN, p.STAN = det.MerchantID, det.TerminalID,
			strings.TrimSpace(det.CardAcceptorNameLocation), det.RRN, det.STAN
	}
	switch e.Kind {
	case ledger.KindDebit, ledger.KindLienDebit:
		// A lien debit is the capture of the card transaction its place-lien authorised: a final card debit under
		// its own reference, which is what a later void or refund of it would name. The place-lien's reference
		// travels beside it for reconciliation.
		if e.Kind == ledger.KindLienDebit {
			p.LienReference = e.Original
		}
		if !p.Approved {
			p.ResponseCode = string(respcodes.FromOutcome(ledger.Outcome{Decline: e.Decline}))
			p.Message = e.Decline.Error()
		}
		return d.Client.Debit(ctx, p)
	case ledger.KindReversal:
		p.ReferenceTransactionID = e.Original
		if e.DeliveryID == "" && p.TransactionID == p.ReferenceTransactionID {
			p.TransactionID += reversalSuffix
		}
		if e.Full {
			return d.Client.Void(ctx, p)
		}
		return d.Client.Refund(ctx, p)
	}
	return permanentf("connector: no delivery for outbox event kind %q", e.Kind)
}

// VirtualAccountAPI is what VirtualAccountDeliverer needs of the virtual-account client (*VirtualAccount
// implements it).
type VirtualAccountAPI interface {
	Debit(ctx context.Context, m Mirror) error
	Credit(ctx context.Context, m Mirror) error
}

// VirtualAccountDeliverer mirrors outbox events on the wallet's virtual account: an approved debit or lien debit
// as /debit/uni, a reversal as /credit/uni. The amount mirrored is what moved on the wallet: principal plus fee.
type VirtualAccountDeliverer struct{ Client VirtualAccountAPI }

// Deliver implements Deliverer.
func (d VirtualAccountDeliverer) Deliver(ctx context.Context, e ledger.OutboxEvent) error {
	if e.VirtualAccountID == "" || !e.Approved() {
		return permanentf("virtual account: event %d has nothing to mirror", e.ID)
	}
	m := Mirror{AccountID: e.VirtualAccountID, Reference: deliveryID(e), Currency: e.Currency, Amount: e.Amount + e.Fee}
	if det := e.Details; det != nil {
		m.Merchant = strings.TrimSpace(strings.TrimSpace(det.MerchantID) + " " + strings.TrimSpace(det.CardAcceptorNameLocation))
		m.Terminal, m.RRN = det.TerminalID, det.RRN
	}
	switch e.Kind {
	case ledger.KindDebit, ledger.KindLienDebit:
		return d.Client.Debit(ctx, m)
	case ledger.KindReversal:
		return d.Client.Credit(ctx, m)
	}
	return permanentf("virtual account: no delivery for outbox event kind %q", e.Kind)
}

// permanentError is a delivery that cannot be made whatever the partner says: our own bug, dead-letter it.
type permanentError struct{ msg string }

func (e permanentError) Error() string { return e.msg }

func permanentf(format string, args ...any) error {
	return permanentError{fmt.Sprintf(format, args...)}
}
