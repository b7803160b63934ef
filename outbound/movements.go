package outbound

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/walletgate/walletgate/ledger"
)

// BestCashAPI is what the top-up and cash-out flows need of BestCash (*BestCash implements it).
type BestCashAPI interface {
	VerifyCustomer(ctx context.Context, phone string) (Customer, error)
	Debit(ctx context.Context, o DebitOrder) (Operation, error)
	ConfirmDebit(ctx context.Context, partnerReference, code string) (Operation, error)
	CancelDebit(ctx context.Context, partnerReference string) (Operation, error)
	Credit(ctx context.Context, o CreditOrder) (Operation, error)
	Status(ctx context.Context, partnerReference string) (Operation, error)
}

// MovementStore is what the flows need of the ledger (*ledger.Ledger implements it).
type MovementStore interface {
	Wallet(ctx context.Context, id string) (ledger.Wallet, error)
	StartTopup(ctx context.Context, n ledger.NewTopup) (ledger.Topup, error)
	Topup(ctx context.Context, reference string) (ledger.Topup, error)
	SetTopupState(ctx context.Context, reference, state, message string) (ledger.Topup, error)
	ConfirmTopup(ctx context.Context, reference string) (ledger.Topup, error)
	HoldCashout(ctx context.Context, n ledger.NewCashout) (ledger.Cashout, error)
	Cashout(ctx context.Context, reference string) (ledger.Cashout, error)
	SettleCashout(ctx context.Context, reference string, credited bool, message string) (ledger.Cashout, error)
	NoteCashout(ctx context.Context, reference, message string) (ledger.Cashout, error)
	HeldCashouts(ctx context.Context) ([]ledger.Cashout, error)
}

// Errors of the top-up and cash-out flows (besides the ledger's own refusals, returned as they are).
var (
	// ErrUnknownCustomer is returned when BestCash has no customer with the phone number and the flow cannot go on:
	// a top-up (nothing is debited) or a cash-out without the customer's names (nothing is held).
	ErrUnknownCustomer = errors.New("BestCash has no customer with this phone number")

	// ErrPartnerUnavailable is returned when BestCash could not be reached or gave no usable answer and the state
	// did not change; repeating the call with the same reference resumes the flow.
	ErrPartnerUnavailable = errors.New("BestCash is unavailable; nothing was decided, try again with the same reference")

	// ErrInProgress is returned when another request (or the resolver) is working on the same cash-out reference
	// right now; repeat it to read the outcome.
	ErrInProgress = errors.New("this reference is being processed; repeat the request to read its outcome")

	// ErrConfirmationRefused is returned by ConfirmTopup when BestCash refused the code: the top-up stays
	// awaiting confirmation, with BestCash's message.
	ErrConfirmationRefused = errors.New("BestCash refused the confirmation")
)

// FlowError carries the partner's message with one of the flow errors above.
type FlowError struct {
	Err     error  // ErrUnknownCustomer, ErrPartnerUnavailable or ErrConfirmationRefused
	Message string // what BestCash said (no credentials: the client masks them)
}

func (e *FlowError) Error() string {
	if e.Message == "" {
		return e.Err.Error()
	}
	return e.Err.Error() + ": " + e.Message
}

func (e *FlowError) Unwrap() error { return e.Err }

func flowErr(reason error, cause error) error {
	fe := &FlowError{Err: reason}
	var pe *PartnerError
	if errors.As(cause, &pe) {
		fe.Message = pe.Message
	} else if cause != nil {
		fe.Message = cause.Error()
	}
	return fe
}

// Movements runs BestCash top-ups and cash-outs (CONTRACT 2 and 5): the ledger holds each one's state and moves
// the money; Movements calls BestCash between the steps. Every step is idempotent on our reference, which is also
// BestCash's partnerReference, so any step may be repeated after a crash or an unknown outcome. It never guesses
// an outcome: what BestCash did not tell is asked again with the status look-up.
type Movements struct {
	store MovementStore
	bc    BestCashAPI
	log   *zap.Logger

	mu   sync.Mutex
	busy map[string]bool // cash-out references being worked on (a request or the resolver)
}

// NewMovements returns the flows over store and BestCash; log may be nil.
func NewMovements(store MovementStore, bc BestCashAPI, log *zap.Logger) *Movements {
	if log == nil {
		log = zap.NewNop()
	}
	return &Movements{store: store, bc: bc, log: log, busy: map[string]bool{}}
}

// Topup starts a top-up: it verifies the customer (unknown: the top-up is refused with ErrUnknownCustomer and no
// debit is attempted), then starts the BestCash debit; the customer receives a code and the top-up awaits
// confirmation. Repeating it returns the top-up as it is, resuming a top-up whose debit was not known to start.
func (m *Movements) Topup(ctx context.Context, n ledger.NewTopup) (ledger.Topup, error) {
	t, err := m.store.StartTopup(ctx, n)
	if err != nil {
		return t, err
	}
	switch t.State {
	case ledger.TopupStarted:
	case ledger.TopupRefused:
		return t, &FlowError{Err: ErrUnknownCustomer, Message: t.Message}
	default:
		return t, nil
	}
	if _, err := m.bc.VerifyCustomer(ctx, t.Phone); err != nil {
		if errors.Is(err, ErrCustomerNotFound) {
			return m.refuseTopup(ctx, t, err)
		}
		return t, flowErr(ErrPartnerUnavailable, err)
	}
	op, err := m.bc.Debit(ctx, DebitOrder{PartnerReference: t.Reference, Phone: t.Phone, Currency: t.Currency,
		Amount: t.Amount, Description: "Wallet top-up " + t.Reference})
	switch {
	case errors.Is(err, ErrCustomerNotFound):
		return m.refuseTopup(ctx, t, err)
	case IsPermanent(err):
		return m.store.SetTopupState(ctx, t.Reference, ledger.TopupFailed, messageOf(err))
	case err != nil:
		// Did the debit start? Ask; if BestCash does not know it, it did not, and a repeat sends it again.
		op, err = m.bc.Status(ctx, t.Reference)
		if err != nil {
			return t, flowErr(ErrPartnerUnavailable, err)
		}
	}
	return m.topupBy(ctx, t, op)
}

func (m *Movements) refuseTopup(ctx context.Context, t ledger.Topup, cause error) (ledger.Topup, error) {
	t, err := m.store.SetTopupState(ctx, t.Reference, ledger.TopupRefused, "customer not found")
	if err != nil {
		return t, err
	}
	return t, flowErr(ErrUnknownCustomer, cause)
}

// topupBy applies what BestCash reports of the debit.
func (m *Movements) topupBy(ctx context.Context, t ledger.Topup, op Operation) (ledger.Topup, error) {
	switch op.Status {
	case OperationSuccess:
		return m.store.ConfirmTopup(ctx, t.Reference)
	case OperationFailed:
		return m.store.SetTopupState(ctx, t.Reference, ledger.TopupFailed, op.Message)
	}
	if t.State == ledger.TopupAwaiting {
		return t, nil
	}
	return m.store.SetTopupState(ctx, t.Reference, ledger.TopupAwaiting, op.Message)
}

// ConfirmTopup confirms a top-up with the customer's code; the wallet is credited only when BestCash confirms the
// debit. A wrong code is ErrConfirmationRefused and leaves the top-up awaiting, with BestCash's message. A
// confirmed top-up is returned as it is.
func (m *Movements) ConfirmTopup(ctx context.Context, reference, code string) (ledger.Topup, error) {
	t, err := m.store.Topup(ctx, reference)
	if err != nil {
		return t, err
	}
	switch t.State {
	case ledger.TopupConfirmed:
		return t, nil
	case ledger.TopupAwaiting:
	default:
		return t, &ledger.StateError{Reference: reference, State: t.State, Step: "confirm top-up"}
	}
	op, err := m.bc.ConfirmDebit(ctx, reference, code)
	switch {
	case err == nil:
		return m.topupBy(ctx, t, op)
	case errors.Is(err, ErrConfirmationRejected):
		t, serr := m.store.SetTopupState(ctx, reference, ledger.TopupAwaiting, messageOf(err))
		if serr != nil {
			return t, serr
		}
		return t, flowErr(ErrConfirmationRefused, err)
	case errors.Is(err, ErrOperationNotFound):
		return m.store.SetTopupState(ctx, reference, ledger.TopupFailed, "BestCash does not know the debit")
	case IsPermanent(err):
		return t, flowErr(ErrConfirmationRefused, err)
	}
	// Unknown outcome: did BestCash confirm? Ask; still pending means not confirmed (yet): confirm again later.
	op, serr := m.bc.Status(ctx, reference)
	if serr != nil || op.Status == OperationPending {
		return t, flowErr(ErrPartnerUnavailable, err)
	}
	return m.topupBy(ctx, t, op)
}

// CancelTopup cancels a top-up that awaits confirmation (cancel-debit at BestCash). A cancelled top-up is returned
// as it is; one that BestCash reports as already confirmed is credited and returned confirmed.
func (m *Movements) CancelTopup(ctx context.Context, reference string) (ledger.Topup, error) {
	t, err := m.store.Topup(ctx, reference)
	if err != nil {
		return t, err
	}
	switch t.State {
	case ledger.TopupCancelled:
		return t, nil
	case ledger.TopupAwaiting, ledger.TopupStarted:
	default:
		return t, &ledger.StateError{Reference: reference, State: t.State, Step: "cancel top-up"}
	}
	op, err := m.bc.CancelDebit(ctx, reference)
	switch {
	case err == nil && op.Status == OperationSuccess:
		return m.store.ConfirmTopup(ctx, reference) // the customer confirmed first: the money is ours to credit
	case err == nil, errors.Is(err, ErrOperationNotFound):
		if t.State == ledger.TopupStarted {
			if t, err = m.store.SetTopupState(ctx, reference, ledger.TopupAwaiting, ""); err != nil {
				return t, err
			}
		}
		return m.store.SetTopupState(ctx, reference, ledger.TopupCancelled, "cancelled")
	}
	return t, flowErr(ErrPartnerUnavailable, err)
}

// Cashout pays a wallet's money out to the customer's BestCash account: it verifies the customer (unknown and no
// names: ErrUnknownCustomer, nothing held), holds the amount on the wallet, asks BestCash to credit the customer,
// and settles the hold by the outcome. An outcome BestCash did not tell (timeout, 5xx) is looked up by status; if
// still unknown the cash-out stays held and the resolver (RunResolver) keeps asking. Repeating it returns the
// cash-out as it is (trying once more to settle it when still held).
func (m *Movements) Cashout(ctx context.Context, n ledger.NewCashout) (ledger.Cashout, error) {
	if !m.lock(n.Reference) {
		return ledger.Cashout{}, ErrInProgress // another request or the resolver is on it
	}
	defer m.unlock(n.Reference)
	c, err := m.store.Cashout(ctx, n.Reference)
	switch {
	case errors.Is(err, ledger.ErrCashoutNotFound):
		// Refuse what the ledger would refuse before asking BestCash anything.
		if err := n.Validate(); err != nil {
			return ledger.Cashout{}, err
		}
		w, err := m.store.Wallet(ctx, n.WalletID)
		switch {
		case err != nil:
			return ledger.Cashout{}, err
		case w.Status != ledger.StatusActive:
			return ledger.Cashout{}, ledger.ErrWalletNotActive
		case w.Available() < n.Amount:
			return ledger.Cashout{}, ledger.ErrInsufficientFunds
		}
		if _, err := m.bc.VerifyCustomer(ctx, n.Phone); err != nil {
			if !errors.Is(err, ErrCustomerNotFound) {
				return ledger.Cashout{}, flowErr(ErrPartnerUnavailable, err)
			}
			if n.FirstName == "" || n.LastName == "" {
				return ledger.Cashout{}, flowErr(ErrUnknownCustomer, err)
			}
		}
		c, err = m.store.HoldCashout(ctx, n)
		if err != nil {
			return c, err
		}
		return m.credit(ctx, c)
	case err != nil:
		return c, err
	}
	c, err = m.store.HoldCashout(ctx, n) // the same body, or ErrCashoutConflict
	if err != nil || c.State != ledger.CashoutHeld {
		return c, err
	}
	return m.resolve(ctx, c)
}

// credit asks BestCash to credit the customer and settles by the answer; an unknown answer is looked up once.
func (m *Movements) credit(ctx context.Context, c ledger.Cashout) (ledger.Cashout, error) {
	op, err := m.bc.Credit(ctx, CreditOrder{PartnerReference: c.Reference, Phone: c.Phone, Currency: c.Currency,
		Amount: c.Amount, Description: "Wallet cash-out " + c.Reference, FirstName: c.FirstName, LastName: c.LastName})
	switch {
	case err == nil:
		return m.settleBy(ctx, c, op)
	case errors.Is(err, ErrCustomerNotFound), IsPermanent(err):
		return m.store.SettleCashout(ctx, c.Reference, false, messageOf(err))
	}
	m.log.Warn("cash-out: BestCash credit outcome unknown, looking it up", zap.String("reference", c.Reference),
		zap.Error(err))
	if op, serr := m.bc.Status(ctx, c.Reference); serr == nil {
		return m.settleBy(ctx, c, op)
	}
	// Not known (yet), or BestCash is unreachable. The cash-out stays held; the resolver asks again and, if BestCash
	// does not know the operation, sends the same credit again: BestCash executes a partnerReference once.
	return m.store.NoteCashout(ctx, c.Reference, "credit outcome unknown: "+messageOf(err))
}

// resolve settles a held cash-out by asking BestCash: by status when it knows the operation, by sending the credit
// (again; idempotent on the reference) when it does not.
func (m *Movements) resolve(ctx context.Context, c ledger.Cashout) (ledger.Cashout, error) {
	op, err := m.bc.Status(ctx, c.Reference)
	switch {
	case err == nil:
		return m.settleBy(ctx, c, op)
	case errors.Is(err, ErrOperationNotFound):
		return m.credit(ctx, c)
	}
	return m.store.NoteCashout(ctx, c.Reference, "status look-up failed: "+messageOf(err))
}

func (m *Movements) settleBy(ctx context.Context, c ledger.Cashout, op Operation) (ledger.Cashout, error) {
	switch op.Status {
	case OperationSuccess:
		return m.store.SettleCashout(ctx, c.Reference, true, op.Message)
	case OperationFailed:
		return m.store.SettleCashout(ctx, c.Reference, false, op.Message)
	}
	return m.store.NoteCashout(ctx, c.Reference, "pending at BestCash")
}

// ResolveHeld makes one pass over the held cash-outs, settling each whose outcome BestCash now tells. It returns
// how many are still held.
func (m *Movements) ResolveHeld(ctx context.Context) (int, error) {
	held, err := m.store.HeldCashouts(ctx)
	if err != nil {
		return 0, err
	}
	left := 0
	for _, c := range held {
		if ctx.Err() != nil {
			return left, ctx.Err()
		}
		if !m.lock(c.Reference) {
			left++
			continue
		}
		ref := c.Reference
		c, err := m.resolve(ctx, c)
		m.unlock(ref)
		switch {
		case err != nil:
			left++
			m.log.Warn("cash-out: cannot resolve", zap.String("reference", ref), zap.Error(err))
		case c.State == ledger.CashoutHeld:
			left++
		default:
			m.log.Info("cash-out resolved", zap.String("reference", ref), zap.String("state", c.State))
		}
	}
	return left, nil
}

// RunResolver calls ResolveHeld every interval until ctx ends: a cash-out whose outcome was unknown is settled as
// soon as BestCash tells it, never guessed.
func (m *Movements) RunResolver(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := m.ResolveHeld(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("cash-out resolver", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Movements) lock(ref string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy[ref] {
		return false
	}
	m.busy[ref] = true
	return true
}

func (m *Movements) unlock(ref string) {
	m.mu.Lock()
	delete(m.busy, ref)
	m.mu.Unlock()
}

// messageOf is the partner's message of err, else err's text.
func messageOf(err error) string {
	var pe *PartnerError
	if errors.As(err, &pe) && pe.Message != "" {
		return pe.Message
	}
	return err.Error()
}
