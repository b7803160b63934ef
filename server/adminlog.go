package server

import (
	"errors"
	"strings"

	"go.uber.org/zap"
)

// Admin money movements (credit, status change, top-up start, confirm and cancel, cash-out) each write one info
// line, so that what the ops team did to a wallet can be read from the logs as well as from the ledger.

// Outcomes of an admin money movement in its log line; a refused one logs the admin API's error code instead.
const (
	movementOK    = "ok"    // done; the resulting state, where there is one, is logged beside it
	movementError = "error" // failed in a way the admin API has no code for
)

// logMovement writes the info line of one admin money movement: the action, the wallet, the reference, the amount
// (minor units) and the outcome (movementOK, or the error code the caller was answered with). It never logs a
// secret; a phone number is masked to its last 4 digits by the caller with maskPhone.
func (s *Server) logMovement(action, walletID, reference string, amount int64, err error, fields ...zap.Field) {
	outcome := movementOK
	if err != nil {
		outcome = movementError
		var ae *apiError
		if errors.As(err, &ae) {
			outcome = ae.Code
		}
	}
	s.log.Info("admin money movement", append([]zap.Field{zap.String("action", action), zap.String("walletId", walletID),
		zap.String("reference", reference), zap.Int64("amount", amount), zap.String("outcome", outcome)}, fields...)...)
}

// maskPhone shows only the last 4 digits of a phone number: "+2348012345678" becomes "**********5678". A number
// of 4 characters or fewer is masked entirely.
func maskPhone(phone string) string {
	if len(phone) <= 4 {
		return strings.Repeat("*", len(phone))
	}
	return strings.Repeat("*", len(phone)-4) + phone[len(phone)-4:]
}
